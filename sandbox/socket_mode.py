"""Slack's Socket Mode for the fake Slack: a WebSocket (RFC 6455) on the fake's own port.

`apps.connections.open` hands out ``ws://127.0.0.1:PORT/link/?ticket=…`` (slack_sdk connects
without TLS to any port but 443). A connection gets Slack's ``hello``; the fake then sends
envelopes (``events_api``, ``interactive``, ``slash_commands``) and expects each back as an
ack, ``{"envelope_id": …, "payload": …}``. An envelope not acknowledged within
``ack_seconds`` is sent again (``retry_attempt`` + 1, ``retry_reason: timeout``), on the same
connection or the next one, as Slack does. ``refresh`` sends the ``disconnect`` Slack sends
before it recycles a connection; the client opens a new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import select
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame, as a server sends it."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One frame from a client (masked, as RFC 6455 requires of clients)."""
    first, second = _exactly(sock, 2)
    opcode, length = first & 0x0F, second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _exactly(sock, 8))
    mask = _exactly(sock, 4) if second & 0x80 else b"\0\0\0\0"
    data = _exactly(sock, length)
    return opcode, bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        chunks += chunk
    return chunks


@dataclass
class Envelope:
    """One delivery: its envelope as sent, when it was last sent, and the ack, once one
    came."""

    body: Json
    sent_at: float = 0.0
    ack: Json | None = None
    acked: threading.Event = field(default_factory=threading.Event)


class Connection:
    """One Socket Mode connection: writes under a lock, reads on the handler's thread."""

    def __init__(self, sock: socket.socket, ticket: str) -> None:
        self.sock = sock
        self.ticket = ticket
        self.lock = threading.Lock()
        self.open = True

    def send_json(self, body: Json) -> None:
        self.send(OPCODE_TEXT, json.dumps(body).encode())

    def send(self, opcode: int, payload: bytes) -> None:
        with self.lock:
            if not self.open:
                raise ConnectionError("closed")
            self.sock.sendall(frame(opcode, payload))

    def close(self) -> None:
        with self.lock:
            if self.open:
                self.open = False
                try:
                    self.sock.sendall(frame(OPCODE_CLOSE, struct.pack("!H", 1000)))
                except OSError:
                    pass


class SocketMode:
    """The fake's Socket Mode state: tickets, connections, envelopes awaiting their ack."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.ack_seconds = 3.0
        self._lock = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[Connection] = []
        self._envelopes: dict[str, Envelope] = {}
        self._opened = 0

    # --- the fake's API side

    def new_ticket(self) -> str:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return ticket

    @property
    def connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections if c.open)

    @property
    def opened(self) -> int:
        """Connections opened so far, refreshes included."""
        with self._lock:
            return self._opened

    def deliver(self, kind: str, payload: Json) -> str:
        """Send `payload` in an envelope of `kind` (events_api, interactive,
        slash_commands) over an open connection; its envelope_id."""
        envelope_id = str(uuid.uuid4())
        body = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._lock:
            self._envelopes[envelope_id] = Envelope(body)
        self._send_due()
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> Json:
        """The ack the client sent for the envelope (with any response payload)."""
        with self._lock:
            envelope = self._envelopes[envelope_id]
        if not envelope.acked.wait(timeout):
            raise AssertionError(f"envelope {envelope_id} not acknowledged within {timeout}s")
        assert envelope.ack is not None
        return envelope.ack

    def sent(self, envelope_id: str) -> Json:
        """The envelope as last sent (its retry_attempt says how often it went again)."""
        with self._lock:
            return dict(self._envelopes[envelope_id].body)

    def refresh(self) -> None:
        """Slack's notice that it will recycle the connections: the client should connect
        anew. The old connections close a moment later."""
        with self._lock:
            old = [c for c in self._connections if c.open]
        for connection in old:
            try:
                connection.send_json(
                    {
                        "type": "disconnect",
                        "reason": "refresh_requested",
                        "debug_info": {"host": "applink-fake"},
                    }
                )
            except (ConnectionError, OSError):
                pass

        def close_old() -> None:
            for connection in old:
                connection.close()

        threading.Timer(1.0, close_old).start()

    def close_all(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections), []
            self._lock.notify_all()
        for connection in connections:
            connection.close()
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- the connection side (a handler thread of the fake's HTTP server)

    def accepts(self, ticket: str) -> bool:
        with self._lock:
            if ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)  # a ticket opens one connection
            return True

    def serve(self, sock: socket.socket, ticket: str) -> None:
        """Talk to one client until it goes: hello, envelopes, acks, pings."""
        connection = Connection(sock, ticket)
        sock.settimeout(5.0)  # within a frame; between frames, select() waits instead
        with self._lock:
            self._connections.append(connection)
            self._opened += 1
        connection.send_json(
            {
                "type": "hello",
                "num_connections": self.connections,
                "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            self._send_due()
            while connection.open:
                # Wait for a frame's first byte here, never inside a frame: a timeout there
                # would lose the bytes already read.
                if not select.select([sock], [], [], 0.2)[0]:
                    self._send_due()
                    continue
                opcode, data = read_frame(sock)
                if opcode == OPCODE_PING:
                    connection.send(OPCODE_PONG, data)
                elif opcode == OPCODE_CLOSE:
                    connection.close()
                elif opcode == OPCODE_TEXT:
                    self._acknowledged(json.loads(data))
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            connection.open = False
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _acknowledged(self, message: Json) -> None:
        envelope_id = message.get("envelope_id")
        with self._lock:
            envelope = self._envelopes.get(str(envelope_id))
            if envelope is None or envelope.ack is not None:
                return
            envelope.ack = message
        envelope.acked.set()

    def _send_due(self) -> None:
        """Send every envelope not yet sent, or unacknowledged past ack_seconds (again,
        counted in retry_attempt), over an open connection."""
        now = time.monotonic()
        with self._lock:
            live = [c for c in self._connections if c.open]
            if not live:
                return
            due = []
            for envelope in self._envelopes.values():
                if envelope.ack is not None:
                    continue
                if envelope.sent_at == 0.0:
                    due.append(envelope)
                elif now - envelope.sent_at >= self.ack_seconds:
                    envelope.body["retry_attempt"] += 1
                    envelope.body["retry_reason"] = "timeout"
                    due.append(envelope)
            for envelope in due:
                envelope.sent_at = now
        for envelope in due:
            try:
                live[-1].send_json(envelope.body)
            except (ConnectionError, OSError):
                envelope.sent_at = 0.0  # the next connection takes it

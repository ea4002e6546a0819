"""What the sandbox's fake Bluesky and fake Mastodon share: a threaded HTTP server on
loopback, started and stopped as one with the connections it keeps alive, and a keep-alive
request handler that hands every method to the fake's own `_dispatch`."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self


class LoopbackService:
    """A fake service's life: `start()` binds and serves in a daemon thread, `stop()`
    closes every connection (idle keep-alive ones would otherwise go on answering) and
    frees the port. A subclass calls `_serve_on` from its constructor and names its
    request handler and thread."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str]
    log_requests: bool

    def _serve_on(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._stopping.clear()
        self._server = _Server(self._address, self, self.handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections and release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.discard(sock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        service: LoopbackService,
        handler: type[BaseHTTPRequestHandler],
    ) -> None:
        self.service = service
        super().__init__(address, handler)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with one buffered write per answer and no Nagle delay (small
    writes otherwise stall keep-alive clients on delayed ACKs); every method goes to
    `_dispatch`."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    @property
    def service(self) -> LoopbackService:
        server = self.server
        assert isinstance(server, _Server)
        return server.service

    def setup(self) -> None:
        super().setup()
        self.service._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.service._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.service.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """End the connection with no answer: a request carried out whose answer is lost."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

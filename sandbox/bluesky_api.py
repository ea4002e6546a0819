"""A fake Bluesky service (PDS, AppView and chat in one) speaking XRPC on loopback.

Tests (and a person running Roost locally) give the atproto SDK ``Client(base_url=fake.url)``.
The fake serves, at ``/xrpc/<nsid>``, the methods Roost uses, in the shapes of Bluesky's
lexicons (github.com/bluesky-social/atproto, ``lexicons/``):

- ``com.atproto.server.createSession``, ``refreshSession``, ``getSession``
- ``com.atproto.identity.resolveHandle``, ``app.bsky.actor.getProfile``
- ``app.bsky.notification.listNotifications`` (newest first; ``reasons``, ``cursor``,
  ``limit``; ``seenAt`` refused as the lexicon says) and ``updateSeen``
- ``app.bsky.feed.getPosts``, ``app.bsky.feed.getPostThread``
- ``com.atproto.repo.createRecord``, ``deleteRecord``, ``getRecord``, ``listRecords`` (posts
  and reposts; posts checked as the lexicon checks them) and ``uploadBlob``
- ``chat.bsky.convo.getConvoForMembers`` and ``sendMessage``, only through the PDS's proxy
  (``atproto-proxy: did:web:api.bsky.chat#bsky_chat``), as the real PDS forwards them

plus ``/_control/...`` endpoints to drive it from outside the process (see
``FakeBluesky._control``).

Authentication is the PDS's: ``createSession`` with a handle (or DID) and an app password
answers an access JWT (``access_seconds``, two hours at Bluesky) and a refresh JWT; every other
call carries ``Authorization: Bearer <accessJwt>``, only ``refreshSession`` the refresh JWT,
which rotates (the old one still answers within ``refresh_grace_seconds``, as at Bluesky, so two
processes sharing a session do not lock each other out). An expired access token answers
400 ``ExpiredToken``; ``expire_access`` ends a session's tokens early, as a server clock ahead of
the client's would. ``revoke(handle)`` revokes the account's app passwords and their sessions:
createSession answers 401 ``AuthenticationRequired``, the access tokens 401 ``InvalidToken``,
refreshSession 400 ``ExpiredToken`` ("Token has been revoked").

Rate limits follow the PDS's (``RATE_LIMITS``; each settable with ``set_rate_limit`` so a test
can reach one): every answer carries ``ratelimit-limit``, ``ratelimit-remaining``,
``ratelimit-reset`` (unix seconds) and ``ratelimit-policy`` (``5000;w=3600``) of its tightest
limit, and a 429 answers ``{"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}``.
Record writes cost points (create 3, delete 1) against 5,000 an hour and 35,000 a day.

Records have at:// URIs whose record keys are TIDs and CIDs computed from their content (CIDv1,
sha-256: ``bafyrei...`` for records, ``bafkrei...`` for blobs). The AppView side (notifications,
post views, threads) is kept in step at once: a post that mentions an account (a mention facet),
replies to one of its posts or quotes one notifies it, as do reposts, likes and follows.

The chat service refuses a conversation with someone whose chat setting (``allow_incoming``:
``all``, ``following``, ``none``; Bluesky's own default is ``following``, the fake's ``all``)
does not take messages from the sender, with 400 ``InvalidRequest`` and the service's words.

Run standalone with ``python -m sandbox.bluesky_api [--port 8083] [--handle brand.bsky.social]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import regex

from sandbox.loopback import is_loopback_host
from sandbox.serving import LoopbackHandler, LoopbackService

JsonDict = dict[str, Any]

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
WRITABLE = frozenset({POST, REPOST})
"""The collections createRecord takes here; likes and follows come from the control side."""

CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
"""The atproto-proxy header value that sends a call on to Bluesky's chat service."""

SERVICE_DID = "did:web:fake.bsky.social"
"""The PDS's own DID: the audience of the JWTs it issues."""

ACCESS_SECONDS = 2 * 60 * 60
"""How long an access JWT lasts at Bluesky's PDS."""

REFRESH_SECONDS = 90 * 24 * 60 * 60
"""How long a refresh JWT lasts (app-password sessions)."""

REFRESH_GRACE_SECONDS = 2 * 60 * 60
"""How long a rotated refresh JWT still answers, as at Bluesky's PDS."""

MAX_GRAPHEMES = 300
"""A post's text, counted in grapheme clusters (app.bsky.feed.post, ``maxGraphemes``)."""

MAX_TEXT_BYTES = 3000
"""A post's text, counted in UTF-8 bytes (the lexicon's ``maxLength``)."""

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000
"""An image's blob at most (app.bsky.embed.images, ``maxSize``)."""

MAX_BLOB_BYTES = 1_000_000
"""What uploadBlob takes here; larger uploads answer 413 as the PDS's body limit does."""

MAX_MESSAGE_BYTES = 10_000
MAX_MESSAGE_GRAPHEMES = 1_000
"""A chat message's text (chat.bsky.convo.defs#messageInput)."""

DEFAULT_NOTIFICATIONS = 50
MAX_PAGE = 100

WRITE_POINTS = {"createRecord": 3, "putRecord": 2, "deleteRecord": 1}
"""What a record write costs against the PDS's write limits."""


@dataclass(slots=True)
class RateLimit:
    """One of the PDS's limits: `limit` points per `window` seconds, counted per `key`."""

    name: str
    limit: int
    window: int
    key: str  # "ip", "handle" (createSession's identifier) or "did"
    methods: frozenset[str] | None  # None: every call


RATE_LIMITS = (
    RateLimit("global", 3000, 300, "ip", None),
    RateLimit("session-5m", 30, 300, "handle", frozenset({"com.atproto.server.createSession"})),
    RateLimit("session-day", 300, 86400, "handle", frozenset({"com.atproto.server.createSession"})),
    RateLimit(
        "writes-hour", 5000, 3600, "did", frozenset(f"com.atproto.repo.{m}" for m in WRITE_POINTS)
    ),
    RateLimit(
        "writes-day", 35000, 86400, "did", frozenset(f"com.atproto.repo.{m}" for m in WRITE_POINTS)
    ),
)
"""Bluesky's PDS limits: 3,000 calls per 5 minutes per IP, createSession 30 per 5 minutes and
300 a day per account, and record writes by points (5,000 an hour, 35,000 a day)."""


# --- identifiers ------------------------------------------------------------------------------

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]+$")
_AT_URI = re.compile(
    r"^at://(?P<repo>[^/]+)/(?P<collection>[a-zA-Z0-9.]+)/(?P<rkey>[a-zA-Z0-9._:~-]+)$"
)
_LANG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")


def _tid(micros: int, clock_id: int = 0) -> str:
    """A timestamp identifier: 13 sortable base-32 characters of microseconds and a clock id."""
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def _cid(data: bytes, codec: int) -> str:
    """A CIDv1 (sha-256) in base32, as atproto writes it: codec 0x71 dag-cbor, 0x55 raw."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def record_cid(record: JsonDict) -> str:
    """The CID of a record (of its canonical JSON: the fake does not encode CBOR)."""
    return _cid(json.dumps(record, sort_keys=True, separators=(",", ":")).encode(), 0x71)


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _from_millis(millis: int) -> str:
    return _iso(datetime.fromtimestamp(millis / 1000, UTC))


def graphemes(text: str) -> int:
    """Grapheme clusters in `text`, as the lexicon counts ``maxGraphemes``."""
    return len(regex.findall(r"\X", text))


def parse_at_uri(uri: str) -> tuple[str, str, str] | None:
    """(repo, collection, rkey) of an at:// record URI, or None."""
    match = _AT_URI.match(uri)
    return None if match is None else (match["repo"], match["collection"], match["rkey"])


def _sniff(data: bytes) -> str | None:
    """An image's type from its first bytes, as the PDS sniffs uploads."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- errors -----------------------------------------------------------------------------------


class XrpcError(Exception):
    """An XRPC error answer: ``{"error": name, "message": ...}`` with `status`."""

    def __init__(
        self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.body: JsonDict = {"error": error, "message": message}
        self.headers = dict(headers or {})


def _invalid(message: str, error: str = "InvalidRequest") -> XrpcError:
    return XrpcError(400, error, message)


class _UnknownControl(Exception):
    pass


# --- records ----------------------------------------------------------------------------------


class Headers(dict[str, str]):
    """Request headers; keys are stored lower-case and looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class Call:
    """One XRPC request as the fake received it (control endpoints are not recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    @property
    def nsid(self) -> str:
        return self.path.removeprefix("/xrpc/")

    def json(self) -> JsonDict:
        try:
            value = json.loads(self.body or b"null")
        except ValueError as error:
            raise _invalid("Request body is not valid JSON") from error
        if not isinstance(value, dict):
            raise _invalid("Input must be an object")
        return value

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])


@dataclass(slots=True)
class _Account:
    did: str
    handle: str
    display_name: str | None
    passwords: set[str]
    created_at: str
    allow_incoming: str = "all"
    revoked: bool = False
    seen_at: str | None = None


@dataclass(slots=True)
class _Session:
    did: str
    access: str
    refresh: str
    revoked: bool = False
    expired: set[str] = field(default_factory=set)  # access tokens ended early
    rotated: dict[str, float] = field(default_factory=dict)  # old refresh -> rotated at


@dataclass(slots=True)
class _Record:
    uri: str
    cid: str
    did: str
    collection: str
    rkey: str
    value: JsonDict
    indexed_at: str


@dataclass(slots=True)
class _Notification:
    recipient: str
    author: str
    reason: str
    uri: str
    cid: str
    record: JsonDict
    indexed_ms: int
    reason_subject: str | None = None


@dataclass(slots=True)
class _Blob:
    cid: str
    mime: str
    size: int
    owner: str


@dataclass(slots=True)
class _Message:
    id: str
    convo_id: str
    sender: str
    recipients: tuple[str, ...]
    text: str
    sent_at: str
    rev: str
    facets: list[JsonDict] | None = None

    def view(self) -> JsonDict:
        view: JsonDict = {
            "$type": "chat.bsky.convo.defs#messageView",
            "id": self.id,
            "rev": self.rev,
            "text": self.text,
            "sender": {"did": self.sender},
            "sentAt": self.sent_at,
        }
        if self.facets:
            view["facets"] = self.facets
        return view


@dataclass(slots=True)
class _Fault:
    path_prefix: str
    status: int
    times: int
    method: str | None
    body: JsonDict | None
    reset_in: int


@dataclass(slots=True)
class _Delay:
    path_prefix: str
    seconds: float
    times: int


@dataclass(slots=True)
class _LostAnswer:
    path_prefix: str
    method: str | None
    times: int


@dataclass(frozen=True, slots=True)
class _Admission:
    delay: float
    fault: XrpcError | None
    lose_answer: bool
    rate_headers: dict[str, str]


_Handler = Callable[["FakeBluesky", Call, str | None], JsonDict]


class FakeBluesky(LoopbackService):
    """A fake Bluesky service on loopback; all state lives under one lock."""

    thread_name = "fake-bluesky"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False
    ) -> None:
        """Configure the server; nothing listens until `start()`."""
        self._serve_on(host, port)
        self.log_requests = log_requests
        self.access_seconds = ACCESS_SECONDS
        """How long the access JWTs it issues from now on last: a test shortens it to see
        ExpiredToken (the SDK refreshes 15 minutes before an access JWT's ``exp`` by itself)."""
        self.refresh_seconds = REFRESH_SECONDS
        self.refresh_grace_seconds = REFRESH_GRACE_SECONDS
        self.max_blob_bytes = MAX_BLOB_BYTES
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()

        self._accounts: dict[str, _Account] = {}  # did -> account
        self._handles: dict[str, str] = {}  # lower-cased handle -> did
        self._sessions: dict[str, _Session] = {}  # any token it issued -> its session
        self._records: dict[str, _Record] = {}  # uri -> record
        self._notifications: list[_Notification] = []  # ascending indexed_ms
        self._blobs: dict[tuple[str, str], _Blob] = {}  # (owner did, cid) -> blob
        self._convos: dict[frozenset[str], str] = {}  # members -> convo id
        self._messages: list[_Message] = []
        self._last_micros = 0
        self._last_millis = 0

        self.rate_limits: dict[str, RateLimit] = {
            limit.name: RateLimit(limit.name, limit.limit, limit.window, limit.key, limit.methods)
            for limit in RATE_LIMITS
        }
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # (limit, key) -> (reset, used)
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._lost_answers: list[_LostAnswer] = []

    # --- lifecycle ---

    # --- clocks and ids (caller holds the lock) ---

    def _next_tid(self) -> str:
        self._last_micros = max(time.time_ns() // 1000, self._last_micros + 1)
        return _tid(self._last_micros)

    def _next_millis(self) -> int:
        """Unique, increasing indexing times: a notification cursor is one of them."""
        self._last_millis = max(time.time_ns() // 1_000_000, self._last_millis + 1)
        return self._last_millis

    # --- accounts ---

    def add_account(
        self,
        handle: str,
        password: str | None = None,
        *,
        display_name: str | None = None,
        allow_incoming: str = "all",
    ) -> str:
        """An account with `handle` (``.bsky.social`` added when it has no dot) and an app
        password; returns its DID."""
        if "." not in handle:
            handle = f"{handle}.bsky.social"
        if not _HANDLE.match(handle):
            raise ValueError(f"not a valid handle: {handle}")
        if allow_incoming not in ("all", "following", "none"):
            raise ValueError("allow_incoming is one of all, following, none")
        with self._lock:
            if handle.lower() in self._handles:
                raise ValueError(f"handle already taken: {handle}")
            digest = hashlib.sha256(f"{handle.lower()}:{len(self._accounts)}".encode()).digest()
            did = "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
            self._accounts[did] = _Account(
                did=did,
                handle=handle.lower(),
                display_name=display_name,
                passwords={password} if password else set(),
                created_at=_iso(datetime.now(UTC)),
                allow_incoming=allow_incoming,
            )
            self._handles[handle.lower()] = did
        return did

    def did(self, handle: str) -> str:
        """The DID of the account with `handle`."""
        with self._lock:
            return self._account(handle).did

    def _account(self, actor: str) -> _Account:
        """The account a handle or DID names (caller holds the lock)."""
        name = actor.lower().lstrip("@")
        if not name.startswith("did:") and "." not in name:
            name = f"{name}.bsky.social"
        did = name if name.startswith("did:") else self._handles.get(name)
        account = self._accounts.get(did or "")
        if account is None:
            raise KeyError(actor)
        return account

    def revoke(self, handle: str) -> None:
        """Revoke the account's app passwords and every session made with them."""
        with self._lock:
            account = self._account(handle)
            account.passwords.clear()
            account.revoked = True
            for session in self._sessions.values():
                if session.did == account.did:
                    session.revoked = True

    def set_password(self, handle: str, password: str) -> None:
        """Give the account a new app password (after `revoke`, reconnecting)."""
        with self._lock:
            account = self._account(handle)
            account.passwords.add(password)
            account.revoked = False

    def expire_access(self, handle: str) -> None:
        """End the account's current access tokens now: the next call with one answers
        400 ExpiredToken while the SDK still thinks it good (a server clock ahead)."""
        with self._lock:
            did = self._account(handle).did
            for session in self._sessions.values():
                if session.did == did:
                    session.expired.add(session.access)

    def close_dms(self, handle: str, allow_incoming: str = "none") -> None:
        """The account takes chat messages from nobody (or `allow_incoming`: following)."""
        with self._lock:
            self._account(handle).allow_incoming = allow_incoming

    # --- posts and the AppView (control side) ---

    def post(
        self,
        author_handle: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote_of: str | None = None,
        langs: Sequence[str] = ("en",),
        created_at: str | None = None,
        images: int = 0,
    ) -> JsonDict:
        """A post by `author_handle`, with mention facets for the @handles of accounts here
        and link facets for its URLs; `reply_to` and `quote_of` are at:// URIs; `images`
        attaches that many small PNGs. Returns ``{"uri", "cid"}``."""
        with self._lock:
            author = self._account(author_handle)
            record: JsonDict = {
                "$type": POST,
                "text": text,
                "createdAt": created_at or _iso(datetime.now(UTC)),
                "langs": list(langs),
            }
            facets = self._detect_facets(text)
            if facets:
                record["facets"] = facets
            if reply_to is not None:
                record["reply"] = self._reply_refs(reply_to)
            media: JsonDict | None = None
            if images:
                media = {
                    "$type": "app.bsky.embed.images",
                    "images": [
                        {
                            "image": self._store_blob(author.did, _png(n), "image/png"),
                            "alt": f"image {n + 1}",
                        }
                        for n in range(images)
                    ],
                }
            if quote_of is not None:
                quoted = self._record(quote_of)
                ref = {"uri": quoted.uri, "cid": quoted.cid}
                if media is None:
                    record["embed"] = {"$type": "app.bsky.embed.record", "record": ref}
                else:
                    record["embed"] = {
                        "$type": "app.bsky.embed.recordWithMedia",
                        "record": {"record": ref},
                        "media": media,
                    }
            elif media is not None:
                record["embed"] = media
            self._check_post(author.did, record)
            stored = self._store_record(author.did, POST, record)
            return {"uri": stored.uri, "cid": stored.cid}

    def post_mention(self, author_handle: str, text: str, **options: Any) -> JsonDict:
        """A post by `author_handle` whose @handles (the brand's) become mention facets, so
        that the accounts named get a mention notification (see `post` for `options`)."""
        return self.post(author_handle, text, **options)

    def repost(self, handle: str, uri: str) -> JsonDict:
        """`handle` reposts the post `uri`; returns the repost record's ``{"uri", "cid"}``."""
        return self._control_record(handle, REPOST, uri)

    def like(self, handle: str, uri: str) -> JsonDict:
        """`handle` likes the post `uri` (its author gets a like notification)."""
        return self._control_record(handle, LIKE, uri)

    def follow(self, handle: str, target_handle: str) -> JsonDict:
        """`handle` follows `target_handle` (a follow notification; lets DMs through where the
        follower's setting is ``following``)."""
        with self._lock:
            author = self._account(handle)
            target = self._account(target_handle)
            record = {"$type": FOLLOW, "subject": target.did, "createdAt": _iso(datetime.now(UTC))}
            stored = self._store_record(author.did, FOLLOW, record)
            return {"uri": stored.uri, "cid": stored.cid}

    def _control_record(self, handle: str, collection: str, uri: str) -> JsonDict:
        with self._lock:
            author = self._account(handle)
            subject = self._record(uri)
            record = {
                "$type": collection,
                "subject": {"uri": subject.uri, "cid": subject.cid},
                "createdAt": _iso(datetime.now(UTC)),
            }
            stored = self._store_record(author.did, collection, record)
            return {"uri": stored.uri, "cid": stored.cid}

    def delete(self, uri: str) -> None:
        """Delete any record (a post gone, as its author deleting it)."""
        with self._lock:
            self._remove_record(uri)

    def posts_by(self, handle: str) -> list[JsonDict]:
        """The account's posts, oldest first: ``{"uri", "cid", "value"}`` each."""
        return self._records_of(handle, POST)

    def reposts_by(self, handle: str) -> list[JsonDict]:
        """The account's repost records, oldest first."""
        return self._records_of(handle, REPOST)

    def _records_of(self, handle: str, collection: str) -> list[JsonDict]:
        with self._lock:
            did = self._account(handle).did
            found = sorted(
                (r for r in self._records.values() if r.did == did and r.collection == collection),
                key=lambda r: r.rkey,
            )
            return [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in found]

    def record(self, uri: str) -> JsonDict | None:
        """A record's value, or None when there is none."""
        with self._lock:
            found = self._records.get(uri)
            return None if found is None else found.value

    def dms(self, handle: str) -> list[JsonDict]:
        """Chat messages sent by or to the account, oldest first (message views plus
        ``convoId`` and ``to``: the recipients' DIDs)."""
        with self._lock:
            did = self._account(handle).did
            return [
                {**m.view(), "convoId": m.convo_id, "to": list(m.recipients)}
                for m in self._messages
                if m.sender == did or did in m.recipients
            ]

    def notifications_of(self, handle: str) -> list[JsonDict]:
        """The account's notifications, newest first, as listNotifications serves them."""
        with self._lock:
            account = self._account(handle)
            return [
                self._notification_view(n, account)
                for n in reversed(self._notifications)
                if n.recipient == account.did
            ]

    # --- faults and inspection ---

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        body: JsonDict | None = None,
        reset_in: int = 60,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` (``/xrpc/``
        plus an NSID or its start) with `status`, before carrying them out.

        The body is the XRPC error for that status unless `body` is given; a 429 carries the
        rate-limit headers with ``ratelimit-reset`` = now + `reset_in` seconds.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_Fault(path_prefix, status, times, method, body, reset_in))

    def clear_faults(self) -> None:
        """Forget every pending fault, delay and lost answer."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._lost_answers.clear()

    def slow(self, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Delay the answers to the next `times` requests whose path starts with `path_prefix`;
        the request is carried out at once, only its answer waits."""
        with self._lock:
            self._delays.append(_Delay(path_prefix, seconds, times))

    def lose_answer(self, path_prefix: str, *, method: str | None = "POST", times: int = 1) -> None:
        """Carry out the next `times` requests whose path starts with `path_prefix`, then close
        their connections without an answer: a write the client cannot know the outcome of."""
        with self._lock:
            self._lost_answers.append(_LostAnswer(path_prefix, method, times))

    def set_rate_limit(self, name: str, limit: int, window: int | None = None) -> None:
        """Change one of `RATE_LIMITS` (by name) so a test can reach it, and start its windows
        afresh."""
        with self._lock:
            current = self.rate_limits[name]
            current.limit = limit
            if window is not None:
                current.window = window
            self._windows = {k: v for k, v in self._windows.items() if k[0] != name}

    @property
    def calls(self) -> list[Call]:
        """Every XRPC request so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, path_prefix: str, method: str | None = None) -> list[Call]:
        """The XRPC requests whose path (or NSID) starts with `path_prefix`."""
        prefix = path_prefix if path_prefix.startswith("/") else f"/xrpc/{path_prefix}"
        with self._lock:
            return [
                call
                for call in self._calls
                if call.path.startswith(prefix)
                and (method is None or call.method == method.upper())
            ]

    # --- request handling (handler threads) ---

    def _admit(self, call: Call) -> _Admission:
        """Record a call; decide its delay, injected fault, lost answer and rate limits."""
        now = time.time()
        with self._lock:
            self._calls.append(call)
            delay = 0.0
            for slow in self._delays:
                if call.path.startswith(slow.path_prefix):
                    delay = slow.seconds
                    slow.times -= 1
                    break
            self._delays = [d for d in self._delays if d.times > 0]
            fault = None
            for pending in self._faults:
                if call.path.startswith(pending.path_prefix) and (
                    pending.method is None or pending.method.upper() == call.method
                ):
                    fault = pending
                    pending.times -= 1
                    break
            self._faults = [f for f in self._faults if f.times > 0]
            lose = False
            for lost in self._lost_answers:
                if call.path.startswith(lost.path_prefix) and (
                    lost.method is None or lost.method.upper() == call.method
                ):
                    lose = True
                    lost.times -= 1
                    break
            self._lost_answers = [lost for lost in self._lost_answers if lost.times > 0]
            headers, limited = self._count(call, now)
        if fault is not None:
            if fault.status == 429:
                reset = int(now) + fault.reset_in
                headers = {
                    "ratelimit-limit": headers.get("ratelimit-limit", "3000"),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": headers.get("ratelimit-policy", "3000;w=300"),
                }
            body = fault.body or _fault_body(fault.status)
            error = XrpcError(
                fault.status, str(body.get("error")), str(body.get("message")), headers
            )
            error.body = body
            return _Admission(delay, error, lose, headers)
        return _Admission(delay, limited, lose, headers)

    def _count(self, call: Call, now: float) -> tuple[dict[str, str], XrpcError | None]:
        """Spend the call's points against each limit it falls under (caller holds the lock):
        the tightest limit's headers, and the 429 when one is spent."""
        nsid = call.nsid
        points = WRITE_POINTS.get(nsid.removeprefix("com.atproto.repo."), 1)
        tightest: tuple[int, dict[str, str]] | None = None
        refused: XrpcError | None = None
        for limit in self.rate_limits.values():
            if limit.methods is not None and nsid not in limit.methods:
                continue
            key = self._rate_key(call, limit.key)
            if key is None:
                continue
            reset, used = self._windows.get((limit.name, key), (0, 0))
            if reset <= now:
                reset, used = int(now) + limit.window, 0
            cost = points if limit.methods is not None and limit.key == "did" else 1
            if used + cost > limit.limit:
                headers = _rate_headers(limit, 0, reset)
                refused = refused or XrpcError(
                    429, "RateLimitExceeded", "Rate Limit Exceeded", headers
                )
                continue
            used += cost
            self._windows[(limit.name, key)] = (reset, used)
            remaining = limit.limit - used
            if tightest is None or remaining < tightest[0]:
                tightest = (remaining, _rate_headers(limit, remaining, reset))
        if refused is not None:
            return refused.headers, refused
        return (tightest[1] if tightest else {}), None

    def _rate_key(self, call: Call, key: str) -> str | None:
        if key == "ip":
            return "127.0.0.1"
        if key == "handle":
            try:
                return str(call.json().get("identifier", "")).lower() or None
            except XrpcError:
                return None
        token = _bearer(call.headers)
        session = self._sessions.get(token or "")
        return None if session is None else session.did

    def _handle(self, call: Call) -> JsonDict:
        """Carry out one XRPC call: its answer, or an XrpcError."""
        nsid = call.nsid
        if nsid.startswith("chat.bsky.") and call.headers.get("atproto-proxy") != CHAT_PROXY:
            # Without the proxy header the PDS looks for the method itself, and has none.
            raise XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
        entry = _METHODS.get(nsid)
        if entry is None:
            raise XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
        http_method, handler, needs_auth = entry
        if call.method != http_method:
            raise _invalid(f"Incorrect HTTP method ({call.method}) expected {http_method}")
        did = self._authenticate(call) if needs_auth else None
        with self._lock:
            return handler(self, call, did)

    def _authenticate(self, call: Call) -> str:
        """The DID whose access token the call carries, or the error the PDS answers."""
        token = _bearer(call.headers)
        if token is None:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        claims = self._verify(token)
        with self._lock:
            session = self._sessions.get(token)
            if session is None or claims.get("scope") == "com.atproto.refresh":
                raise XrpcError(400, "InvalidToken", "Bad token scope")
            if session.revoked:
                raise XrpcError(401, "InvalidToken", "Token has been revoked")
            if token in session.expired or claims["exp"] <= time.time():
                raise XrpcError(400, "ExpiredToken", "Token has expired")
            return session.did

    def _verify(self, token: str) -> JsonDict:
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest()
            if not hmac.compare_digest(_b64url_decode(signature), expected):
                raise ValueError("bad signature")
            claims = json.loads(_b64url_decode(payload))
        except ValueError as error:
            raise XrpcError(401, "InvalidToken", "Token could not be verified") from error
        if not isinstance(claims, dict):
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        return claims

    def _jwt(self, claims: JsonDict) -> str:
        header = _b64url(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    def _issue(self, did: str, session: _Session | None = None) -> _Session:
        """New access and refresh JWTs for `did`, in `session` (rotated) or a new one."""
        now = int(time.time())
        access = self._jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": did,
                "aud": SERVICE_DID,
                "jti": secrets.token_urlsafe(12),  # two sessions made in one second differ
                "iat": now,
                "exp": now + self.access_seconds,
            }
        )
        refresh = self._jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": did,
                "aud": SERVICE_DID,
                "jti": secrets.token_urlsafe(24),
                "iat": now,
                "exp": now + self.refresh_seconds,
            }
        )
        if session is None:
            session = _Session(did, access, refresh)
        else:
            session.rotated[session.refresh] = time.time()
            session.access, session.refresh = access, refresh
        self._sessions[access] = self._sessions[refresh] = session
        return session

    def _session_answer(self, session: _Session) -> JsonDict:
        account = self._accounts[session.did]
        return {
            "accessJwt": session.access,
            "refreshJwt": session.refresh,
            "handle": account.handle,
            "did": account.did,
            "active": True,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": account.did,
                "alsoKnownAs": [f"at://{account.handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.url,
                    }
                ],
            },
        }

    # --- records (caller holds the lock) ---

    def _record(self, uri: str) -> _Record:
        found = self._records.get(uri)
        if found is None:
            raise _invalid(f"Could not locate record: {uri}", "RecordNotFound")
        return found

    def _reply_refs(self, parent_uri: str) -> JsonDict:
        parent = self._record(parent_uri)
        root = parent.value.get("reply", {}).get("root") or {"uri": parent.uri, "cid": parent.cid}
        return {"root": root, "parent": {"uri": parent.uri, "cid": parent.cid}}

    def _detect_facets(self, text: str) -> list[JsonDict]:
        facets: list[JsonDict] = []
        for match in re.finditer(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9.-]+[a-zA-Z0-9])", text):
            did = self._handles.get(match[1].lower())
            if did is not None:
                facets.append(
                    _facet(
                        text,
                        match.start(),
                        match.end(),
                        {"$type": "app.bsky.richtext.facet#mention", "did": did},
                    )
                )
        for match in re.finditer(r"https?://[^\s]+[^\s.,;:!?)]", text):
            facets.append(
                _facet(
                    text,
                    match.start(),
                    match.end(),
                    {"$type": "app.bsky.richtext.facet#link", "uri": match[0]},
                )
            )
        return sorted(facets, key=lambda f: f["index"]["byteStart"])

    def _store_blob(self, owner: str, data: bytes, declared: str) -> JsonDict:
        mime = _sniff(data) or declared or "application/octet-stream"
        blob = _Blob(_cid(data, 0x55), mime, len(data), owner)
        self._blobs[(owner, blob.cid)] = blob
        return {"$type": "blob", "ref": {"$link": blob.cid}, "mimeType": mime, "size": len(data)}

    def _check_post(self, did: str, record: JsonDict) -> None:
        """Refuse a post record as the lexicon (and, for references, the fake) does."""

        def bad(message: str) -> XrpcError:
            return _invalid(f"Invalid app.bsky.feed.post record: {message}")

        text = record.get("text")
        if not isinstance(text, str):
            raise bad('Record must have the property "text"')
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise bad(f"Record/text must not be longer than {MAX_TEXT_BYTES} characters")
        if graphemes(text) > MAX_GRAPHEMES:
            raise bad(f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
        created = record.get("createdAt")
        if not isinstance(created, str) or not _is_datetime(created):
            raise bad(
                "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
            )
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            raise bad("Record/langs must not have more than 3 elements")
        for lang in langs:
            if not isinstance(lang, str) or not _LANG.match(lang):
                raise bad("Record/langs must be well-formed BCP 47 language tags")
        self._check_facets(text, record.get("facets"), bad)
        if "reply" in record:
            reply = record["reply"]
            if not isinstance(reply, dict):
                raise bad("Record/reply must be an object")
            for part in ("root", "parent"):
                ref = reply.get(part)
                if not isinstance(ref, dict) or not {"uri", "cid"} <= ref.keys():
                    raise bad(f'Record/reply must have the property "{part}"')
                target = self._records.get(str(ref["uri"]))
                if target is None or target.collection != POST:
                    raise bad(f"Record/reply/{part} could not locate record {ref['uri']}")
                if target.cid != ref["cid"]:
                    raise bad(f"Record/reply/{part}/cid does not match the record {ref['uri']}")
        if "embed" in record:
            self._check_embed(did, record["embed"], bad)

    def _check_facets(self, text: str, facets: Any, bad: Callable[[str], XrpcError]) -> None:
        if facets is None:
            return
        size = len(text.encode())
        if not isinstance(facets, list):
            raise bad("Record/facets must be an array")
        for n, facet in enumerate(facets):
            index = facet.get("index") if isinstance(facet, dict) else None
            if not isinstance(index, dict):
                raise bad(f'Record/facets/{n} must have the property "index"')
            start, end = index.get("byteStart"), index.get("byteEnd")
            if (
                not isinstance(start, int)
                or not isinstance(end, int)
                or not 0 <= start < end <= size
            ):
                raise bad(
                    f"Record/facets/{n}/index must be a byte range within the text ({size} bytes)"
                )
            features = facet.get("features")
            if not isinstance(features, list) or not features:
                raise bad(f'Record/facets/{n} must have the property "features"')
            for feature in features:
                kind = feature.get("$type") if isinstance(feature, dict) else None
                if kind == "app.bsky.richtext.facet#mention":
                    if not _DID.match(str(feature.get("did", ""))):
                        raise bad(f"Record/facets/{n}/features/0/did must be a valid did")
                elif kind == "app.bsky.richtext.facet#link":
                    if not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", str(feature.get("uri", ""))):
                        raise bad(f"Record/facets/{n}/features/0/uri must be a uri")
                elif kind == "app.bsky.richtext.facet#tag":
                    tag = str(feature.get("tag", ""))
                    if not tag or len(tag.encode()) > 640 or graphemes(tag) > 64:
                        raise bad(f"Record/facets/{n}/features/0/tag must be 1 to 64 graphemes")
                else:
                    raise bad(f"Record/facets/{n}/features/0 has an unknown $type {kind!r}")

    def _check_embed(self, did: str, embed: Any, bad: Callable[[str], XrpcError]) -> None:
        kind = embed.get("$type") if isinstance(embed, dict) else None
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not images:
                raise bad('Record/embed must have the property "images"')
            if len(images) > MAX_IMAGES:
                raise bad(f"Record/embed/images must not have more than {MAX_IMAGES} elements")
            for n, image in enumerate(images):
                if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                    raise bad(f'Record/embed/images/{n} must have the property "alt"')
                blob = image.get("image")
                link = blob.get("ref", {}).get("$link") if isinstance(blob, dict) else None
                stored = self._blobs.get((did, str(link)))
                if stored is None:
                    raise _invalid(f"Could not find blob: {link}", "BlobNotFound")
                if not stored.mime.startswith("image/"):
                    raise bad(
                        f"Record/embed/images/{n}/image mimeType ({stored.mime}) not accepted"
                    )
                if stored.size > MAX_IMAGE_BYTES:
                    raise bad(f"Record/embed/images/{n}/image file too large ({stored.size} bytes)")
        elif kind == "app.bsky.embed.record":
            self._check_strong_ref(embed.get("record"), bad)
        elif kind == "app.bsky.embed.recordWithMedia":
            self._check_strong_ref((embed.get("record") or {}).get("record"), bad)
            self._check_embed(did, embed.get("media"), bad)
        elif kind == "app.bsky.embed.external":
            external = embed.get("external")
            if (
                not isinstance(external, dict)
                or not {"uri", "title", "description"} <= external.keys()
            ):
                raise bad('Record/embed must have the property "external"')
        else:
            raise bad(f"Record/embed has an unknown $type {kind!r}")

    def _check_strong_ref(self, ref: Any, bad: Callable[[str], XrpcError]) -> None:
        if not isinstance(ref, dict) or not {"uri", "cid"} <= ref.keys():
            raise bad("Record/embed/record must be a strong reference (uri and cid)")
        if str(ref["uri"]) not in self._records:
            raise _invalid(f"Could not locate record: {ref['uri']}", "RecordNotFound")

    def _store_record(
        self, did: str, collection: str, value: JsonDict, rkey: str | None = None
    ) -> _Record:
        """Keep a record and notify whom it concerns, as the AppView would on indexing it."""
        rkey = rkey or self._next_tid()
        uri = f"at://{did}/{collection}/{rkey}"
        if uri in self._records:
            raise _invalid(f"Record already exists: {uri}")
        millis = self._next_millis()
        record = _Record(uri, record_cid(value), did, collection, rkey, value, _from_millis(millis))
        self._records[uri] = record
        for recipient, reason, subject in self._notified(record):
            self._notifications.append(
                _Notification(recipient, did, reason, uri, record.cid, value, millis, subject)
            )
        return record

    def _notified(self, record: _Record) -> list[tuple[str, str, str | None]]:
        """(recipient, reason, reasonSubject) of the notifications a new record makes."""
        value, author = record.value, record.did
        found: list[tuple[str, str, str | None]] = []
        told = {author}

        def tell(target_uri: str, reason: str) -> None:
            target = self._records.get(target_uri)
            if target is not None and target.did not in told and target.did in self._accounts:
                told.add(target.did)
                found.append((target.did, reason, target_uri))

        if record.collection == POST:
            reply = value.get("reply")
            if reply:
                tell(reply["parent"]["uri"], "reply")
                tell(reply["root"]["uri"], "reply")
            embed = value.get("embed") or {}
            quoted = embed.get("record") or {}
            if embed.get("$type") == "app.bsky.embed.recordWithMedia":
                quoted = quoted.get("record") or {}
            if quoted.get("uri"):
                tell(quoted["uri"], "quote")
            for facet in value.get("facets") or []:
                for feature in facet["features"]:
                    did = feature.get("did")
                    if (
                        feature.get("$type") == "app.bsky.richtext.facet#mention"
                        and did not in told
                        and did in self._accounts
                    ):
                        told.add(did)
                        found.append((did, "mention", None))
        elif record.collection in (REPOST, LIKE):
            tell(value["subject"]["uri"], "repost" if record.collection == REPOST else "like")
        elif record.collection == FOLLOW and value["subject"] not in told:
            found.append((value["subject"], "follow", None))
        return found

    def _remove_record(self, uri: str) -> bool:
        removed = self._records.pop(uri, None)
        if removed is None:
            return False
        self._notifications = [n for n in self._notifications if n.uri != uri]
        return True

    # --- views (caller holds the lock) ---

    def _profile_basic(self, did: str) -> JsonDict:
        account = self._accounts[did]
        view: JsonDict = {
            "did": did,
            "handle": account.handle,
            "associated": {"chat": {"allowIncoming": account.allow_incoming}},
            "viewer": {"muted": False, "blockedBy": False},
            "labels": [],
            "createdAt": account.created_at,
        }
        if account.display_name:
            view["displayName"] = account.display_name
        return view

    def _profile(self, did: str) -> JsonDict:
        return {**self._profile_basic(did), "indexedAt": self._accounts[did].created_at}

    def _profile_detailed(self, did: str) -> JsonDict:
        records = [r for r in self._records.values() if r.collection == FOLLOW]
        return {
            **self._profile(did),
            "followersCount": sum(1 for r in records if r.value["subject"] == did),
            "followsCount": sum(1 for r in records if r.did == did),
            "postsCount": sum(
                1 for r in self._records.values() if r.did == did and r.collection == POST
            ),
        }

    def _post_view(self, record: _Record, viewer: str | None) -> JsonDict:
        def about(collection: str) -> list[_Record]:
            return [
                r
                for r in self._records.values()
                if r.collection == collection
                and r.value.get("subject", {}).get("uri") == record.uri
            ]

        reposts, likes = about(REPOST), about(LIKE)
        replies = [
            r
            for r in self._records.values()
            if r.collection == POST
            and (r.value.get("reply") or {}).get("parent", {}).get("uri") == record.uri
        ]
        quotes = [
            r
            for r in self._records.values()
            if r.collection == POST and _quoted(r.value) == record.uri
        ]
        view: JsonDict = {
            "$type": "app.bsky.feed.defs#postView",
            "uri": record.uri,
            "cid": record.cid,
            "author": self._profile_basic(record.did),
            "record": record.value,
            "replyCount": len(replies),
            "repostCount": len(reposts),
            "likeCount": len(likes),
            "quoteCount": len(quotes),
            "indexedAt": record.indexed_at,
            "labels": [],
            "viewer": {"threadMuted": False, "embeddingDisabled": False},
        }
        if viewer is not None:
            own_repost = next((r.uri for r in reposts if r.did == viewer), None)
            own_like = next((r.uri for r in likes if r.did == viewer), None)
            if own_repost:
                view["viewer"]["repost"] = own_repost
            if own_like:
                view["viewer"]["like"] = own_like
        embed = self._embed_view(record.did, record.value.get("embed"), viewer)
        if embed is not None:
            view["embed"] = embed
        return view

    def _embed_view(self, did: str, embed: Any, viewer: str | None) -> JsonDict | None:
        if not isinstance(embed, dict):
            return None
        kind = embed.get("$type")
        if kind == "app.bsky.embed.images":
            images = []
            for image in embed["images"]:
                cid = image["image"]["ref"]["$link"]
                shown: JsonDict = {
                    "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/{cid}@jpeg",
                    "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg",
                    "alt": image["alt"],
                }
                if "aspectRatio" in image:
                    shown["aspectRatio"] = image["aspectRatio"]
                images.append(shown)
            return {"$type": "app.bsky.embed.images#view", "images": images}
        if kind == "app.bsky.embed.record":
            return {
                "$type": "app.bsky.embed.record#view",
                "record": self._quoted_view(embed["record"]["uri"]),
            }
        if kind == "app.bsky.embed.recordWithMedia":
            return {
                "$type": "app.bsky.embed.recordWithMedia#view",
                "record": {"record": self._quoted_view(embed["record"]["record"]["uri"])},
                "media": self._embed_view(did, embed["media"], viewer),
            }
        if kind == "app.bsky.embed.external":
            return {"$type": "app.bsky.embed.external#view", "external": embed["external"]}
        return None

    def _quoted_view(self, uri: str) -> JsonDict:
        quoted = self._records.get(uri)
        if quoted is None:
            return {"$type": "app.bsky.embed.record#viewNotFound", "uri": uri, "notFound": True}
        return {
            "$type": "app.bsky.embed.record#viewRecord",
            "uri": quoted.uri,
            "cid": quoted.cid,
            "author": self._profile_basic(quoted.did),
            "value": quoted.value,
            "indexedAt": quoted.indexed_at,
        }

    def _notification_view(self, notification: _Notification, account: _Account) -> JsonDict:
        indexed_at = _from_millis(notification.indexed_ms)
        view: JsonDict = {
            "uri": notification.uri,
            "cid": notification.cid,
            "author": self._profile(notification.author),
            "reason": notification.reason,
            "record": notification.record,
            "isRead": account.seen_at is not None and indexed_at <= account.seen_at,
            "indexedAt": indexed_at,
            "labels": [],
        }
        if notification.reason_subject:
            view["reasonSubject"] = notification.reason_subject
        return view

    # --- XRPC methods (caller holds the lock) ---

    def _create_session(self, call: Call, _: str | None) -> JsonDict:
        body = call.json()
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            raise _invalid('Input must have the properties "identifier" and "password"')
        try:
            account = self._account(identifier)
        except KeyError:
            account = None
        if account is None or password not in account.passwords:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session_answer(self._issue(account.did))

    def _refresh_session(self, call: Call, _: str | None) -> JsonDict:
        token = _bearer(call.headers)
        if token is None:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        claims = self._verify(token)
        session = self._sessions.get(token)
        if session is None or claims.get("scope") != "com.atproto.refresh":
            raise XrpcError(400, "InvalidToken", "Invalid token type")
        if session.revoked:
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        if claims["exp"] <= time.time():
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        if token != session.refresh:
            rotated_at = session.rotated.get(token, 0.0)
            if time.time() - rotated_at > self.refresh_grace_seconds:
                raise XrpcError(400, "ExpiredToken", "Token has been revoked")
            return self._session_answer(session)
        return self._session_answer(self._issue(session.did, session))

    def _get_session(self, _: Call, did: str | None) -> JsonDict:
        account = self._accounts[cast(str, did)]
        return {"handle": account.handle, "did": account.did, "active": True}

    def _resolve_handle(self, call: Call, _: str | None) -> JsonDict:
        handle = call.param("handle")
        if not handle:
            raise _invalid('Params must have the property "handle"')
        did = self._handles.get(handle.lower())
        if did is None:
            raise _invalid("Unable to resolve handle")
        return {"did": did}

    def _get_profile(self, call: Call, _: str | None) -> JsonDict:
        actor = call.param("actor")
        if not actor:
            raise _invalid('Params must have the property "actor"')
        try:
            return self._profile_detailed(self._account(actor).did)
        except KeyError:
            raise _invalid("Profile not found") from None

    def _list_notifications(self, call: Call, did: str | None) -> JsonDict:
        if call.param("seenAt") is not None:
            raise _invalid("The seenAt parameter is unsupported")
        limit = _limit(call, DEFAULT_NOTIFICATIONS)
        reasons = set(call.params("reasons"))
        cursor = call.param("cursor")
        before = None
        if cursor:
            if not cursor.isdigit():
                raise _invalid("Malformed cursor")
            before = int(cursor)
        account = self._accounts[cast(str, did)]
        page: list[_Notification] = []
        for notification in reversed(self._notifications):
            if notification.recipient != account.did or (
                reasons and notification.reason not in reasons
            ):
                continue
            if before is not None and notification.indexed_ms >= before:
                continue
            page.append(notification)
            if len(page) == limit:
                break
        answer: JsonDict = {"notifications": [self._notification_view(n, account) for n in page]}
        if len(page) == limit:
            answer["cursor"] = str(page[-1].indexed_ms)
        if account.seen_at:
            answer["seenAt"] = account.seen_at
        return answer

    def _update_seen(self, call: Call, did: str | None) -> JsonDict:
        seen_at = call.json().get("seenAt")
        if not isinstance(seen_at, str) or not _is_datetime(seen_at):
            raise _invalid('Input must have the property "seenAt"')
        self._accounts[cast(str, did)].seen_at = seen_at
        return {}

    def _get_posts(self, call: Call, did: str | None) -> JsonDict:
        uris = call.params("uris")
        if not uris or len(uris) > 25:
            raise _invalid("Params/uris must have 1 to 25 elements")
        found = [
            self._records[u]
            for u in uris
            if u in self._records and self._records[u].collection == POST
        ]
        return {"posts": [self._post_view(r, did) for r in found]}

    def _get_post_thread(self, call: Call, did: str | None) -> JsonDict:
        uri = call.param("uri") or ""
        depth = int(call.param("depth") or 6)
        height = int(call.param("parentHeight") or 80)
        record = self._records.get(uri)
        if record is None or record.collection != POST:
            raise _invalid(f"Post not found: {uri}", "NotFound")

        def down(node: _Record, levels: int) -> JsonDict:
            view: JsonDict = {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": self._post_view(node, did),
            }
            if levels > 0:
                view["replies"] = [
                    down(r, levels - 1)
                    for r in sorted(self._records.values(), key=lambda r: r.rkey)
                    if r.collection == POST
                    and (r.value.get("reply") or {}).get("parent", {}).get("uri") == node.uri
                ]
            return view

        thread = down(record, depth)
        node, current = record, thread
        while height > 0 and node.value.get("reply"):
            parent_uri = node.value["reply"]["parent"]["uri"]
            parent = self._records.get(parent_uri)
            if parent is None:
                current["parent"] = {
                    "$type": "app.bsky.feed.defs#notFoundPost",
                    "uri": parent_uri,
                    "notFound": True,
                }
                break
            current["parent"] = {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": self._post_view(parent, did),
            }
            node, current, height = parent, current["parent"], height - 1
        return {"thread": thread}

    def _repo_of(self, body: Mapping[str, Any], did: str | None) -> str:
        repo = body.get("repo")
        if not isinstance(repo, str):
            raise _invalid('Input must have the property "repo"')
        try:
            owner = self._account(repo).did
        except KeyError:
            raise _invalid(f"Could not find repo: {repo}") from None
        if owner != did:
            raise XrpcError(403, "InvalidRequest", "Invalid did")  # another account's repo
        return owner

    def _create_record(self, call: Call, did: str | None) -> JsonDict:
        body = call.json()
        owner = self._repo_of(body, did)
        collection, record = body.get("collection"), body.get("record")
        if collection not in WRITABLE:
            raise _invalid(f"Collection not served by this fake: {collection}")
        if not isinstance(record, dict):
            raise _invalid('Input must have the property "record"')
        record.setdefault("$type", collection)
        if record["$type"] != collection:
            raise _invalid(f"Invalid $type: expected {collection}, got {record['$type']}")
        if collection == POST:
            self._check_post(owner, record)
        else:
            subject = record.get("subject")
            if not isinstance(subject, dict) or not {"uri", "cid"} <= subject.keys():
                raise _invalid(
                    'Invalid app.bsky.feed.repost record: Record must have the property "subject"'
                )
            if not _is_datetime(str(record.get("createdAt", ""))):
                raise _invalid(
                    'Invalid app.bsky.feed.repost record: Record must have the property "createdAt"'
                )
            self._record(str(subject["uri"]))
        rkey = body.get("rkey")
        stored = self._store_record(owner, str(collection), record, str(rkey) if rkey else None)
        return {
            "uri": stored.uri,
            "cid": stored.cid,
            "commit": {"cid": record_cid({"commit": stored.uri}), "rev": self._next_tid()},
            "validationStatus": "valid",
        }

    def _delete_record(self, call: Call, did: str | None) -> JsonDict:
        body = call.json()
        owner = self._repo_of(body, did)
        uri = f"at://{owner}/{body.get('collection')}/{body.get('rkey')}"
        self._remove_record(uri)  # deleting what is not there succeeds, as at the PDS
        return {"commit": {"cid": record_cid({"delete": uri}), "rev": self._next_tid()}}

    def _get_record(self, call: Call, _: str | None) -> JsonDict:
        repo, collection, rkey = call.param("repo"), call.param("collection"), call.param("rkey")
        if not repo or not collection or not rkey:
            raise _invalid('Params must have the properties "repo", "collection" and "rkey"')
        try:
            owner = self._account(repo).did
        except KeyError:
            raise _invalid(f"Could not find repo: {repo}", "RepoNotFound") from None
        found = self._record(f"at://{owner}/{collection}/{rkey}")
        if call.param("cid") and call.param("cid") != found.cid:
            raise _invalid(f"Could not locate record: {found.uri}", "RecordNotFound")
        return {"uri": found.uri, "cid": found.cid, "value": found.value}

    def _list_records(self, call: Call, _: str | None) -> JsonDict:
        repo, collection = call.param("repo"), call.param("collection")
        if not repo or not collection:
            raise _invalid('Params must have the properties "repo" and "collection"')
        try:
            owner = self._account(repo).did
        except KeyError:
            raise _invalid(f"Could not find repo: {repo}", "RepoNotFound") from None
        limit = _limit(call, 50)
        ascending = call.param("reverse") == "true"
        cursor = call.param("cursor")
        found = sorted(
            (r for r in self._records.values() if r.did == owner and r.collection == collection),
            key=lambda r: r.rkey,
            reverse=not ascending,
        )
        if cursor:
            found = [r for r in found if (r.rkey > cursor if ascending else r.rkey < cursor)]
        page = found[:limit]
        answer: JsonDict = {
            "records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in page]
        }
        if len(page) == limit:
            answer["cursor"] = page[-1].rkey
        return answer

    def _upload_blob(self, call: Call, did: str | None) -> JsonDict:
        if len(call.body) > self.max_blob_bytes:
            raise XrpcError(413, "PayloadTooLarge", "request entity too large")
        return {
            "blob": self._store_blob(
                cast(str, did), call.body, call.headers.get("content-type") or ""
            )
        }

    def _get_convo_for_members(self, call: Call, did: str | None) -> JsonDict:
        sender = cast(str, did)
        members = call.params("members")
        if not members or len(members) > 10:
            raise _invalid("Params/members must have 1 to 10 elements")
        others = [m for m in dict.fromkeys(members) if m != sender]
        for member in others:
            account = self._accounts.get(member)
            if account is None:
                raise _invalid("recipient not found")
            follows = any(
                r.collection == FOLLOW and r.did == member and r.value["subject"] == sender
                for r in self._records.values()
            )
            if account.allow_incoming == "none":
                raise _invalid("recipient has disabled incoming messages")
            if account.allow_incoming == "following" and not follows:
                raise _invalid(
                    "recipient requires incoming messages to come from someone they follow"
                )
        everyone = frozenset([sender, *others])
        convo_id = self._convos.setdefault(everyone, secrets.token_hex(8))
        last = next((m for m in reversed(self._messages) if m.convo_id == convo_id), None)
        return {
            "convo": {
                "id": convo_id,
                "rev": last.rev if last else self._next_tid(),
                "members": [
                    {**self._profile_basic(m), "$type": "chat.bsky.actor.defs#profileViewBasic"}
                    for m in sorted(everyone)
                ],
                "muted": False,
                "unreadCount": 0,
                "status": "accepted",
                **({"lastMessage": last.view()} if last else {}),
            }
        }

    def _send_message(self, call: Call, did: str | None) -> JsonDict:
        body = call.json()
        convo_id, message = body.get("convoId"), body.get("message")
        members = next((m for m, cid in self._convos.items() if cid == convo_id), None)
        if members is None or did not in members:
            raise _invalid("Convo not found")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            raise _invalid('Input/message must have the property "text"')
        text = message["text"]
        if len(text.encode()) > MAX_MESSAGE_BYTES or graphemes(text) > MAX_MESSAGE_GRAPHEMES:
            raise _invalid(
                f"Input/message/text must not be longer than {MAX_MESSAGE_GRAPHEMES} graphemes"
            )
        for member in members:
            account = self._accounts[member]
            if member != did and account.allow_incoming == "none":
                raise _invalid("recipient has disabled incoming messages")
        rev = self._next_tid()
        sent = _Message(
            id=rev,
            convo_id=str(convo_id),
            sender=did,
            recipients=tuple(sorted(m for m in members if m != did)),
            text=text,
            sent_at=_iso(datetime.now(UTC)),
            rev=rev,
            facets=message.get("facets"),
        )
        self._messages.append(sent)
        return sent.view()

    # --- control ---

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Answer a ``/_control/...`` request: (status, JSON payload)."""
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return 200, self._control_action(method, path.removeprefix("/_control/"), payload)
        except _UnknownControl:
            return 404, {"error": f"no control endpoint {method} {path}"}
        except KeyError as error:
            return 400, {"error": f"unknown or missing {error}"}
        except XrpcError as error:
            return error.status, error.body
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}

    def _control_action(self, method: str, action: str, p: JsonDict) -> Any:
        """The control endpoints: POST accounts, mentions, posts, reposts, likes, follows,
        revoke, close_dms, expire_access, faults, slow, lose_answer, rate_limits, delete;
        GET posts, reposts, dms, notifications, calls."""
        if method == "POST":
            if action == "accounts":
                did = self.add_account(
                    p["handle"],
                    p.get("password"),
                    display_name=p.get("display_name"),
                    allow_incoming=p.get("allow_incoming", "all"),
                )
                return {"did": did, "handle": self._accounts[did].handle}
            if action in ("mentions", "posts"):
                return self.post(
                    p["author"],
                    p["text"],
                    reply_to=p.get("reply_to"),
                    quote_of=p.get("quote_of"),
                    langs=p.get("langs", ["en"]),
                    created_at=p.get("created_at"),
                    images=int(p.get("images", 0)),
                )
            if action == "reposts":
                return self.repost(p["handle"], p["uri"])
            if action == "likes":
                return self.like(p["handle"], p["uri"])
            if action == "follows":
                return self.follow(p["handle"], p["target"])
            if action == "delete":
                self.delete(p["uri"])
                return {"ok": True}
            if action == "revoke":
                self.revoke(p["handle"])
                return {"ok": True}
            if action == "password":  # a new app password, after a revoke
                self.set_password(p["handle"], p["password"])
                return {"ok": True}
            if action == "close_dms":
                self.close_dms(p["handle"], p.get("allow_incoming", "none"))
                return {"ok": True}
            if action == "expire_access":
                self.expire_access(p["handle"])
                return {"ok": True}
            if action == "faults":
                self.fail(
                    p["path_prefix"],
                    int(p["status"]),
                    times=int(p.get("times", 1)),
                    method=p.get("method"),
                    body=p.get("body"),
                    reset_in=int(p.get("reset_in", 60)),
                )
                return {"ok": True}
            if action == "slow":
                self.slow(p["path_prefix"], float(p["seconds"]), times=int(p.get("times", 1)))
                return {"ok": True}
            if action == "lose_answer":
                self.lose_answer(
                    p["path_prefix"], method=p.get("method", "POST"), times=int(p.get("times", 1))
                )
                return {"ok": True}
            if action == "rate_limits":
                self.set_rate_limit(p["name"], int(p["limit"]), p.get("window"))
                return {"ok": True}
        if method == "GET":
            kind, _, handle = action.partition("/")
            if kind == "posts" and handle:
                return self.posts_by(handle)
            if kind == "reposts" and handle:
                return self.reposts_by(handle)
            if kind == "dms" and handle:
                return self.dms(handle)
            if kind == "notifications" and handle:
                return self.notifications_of(handle)
            if action == "calls":
                return [{"method": c.method, "nsid": c.nsid, "query": c.query} for c in self.calls]
        raise _UnknownControl(action)


_METHODS: dict[str, tuple[str, _Handler, bool]] = {
    "com.atproto.server.createSession": ("POST", FakeBluesky._create_session, False),
    "com.atproto.server.refreshSession": ("POST", FakeBluesky._refresh_session, False),
    "com.atproto.server.getSession": ("GET", FakeBluesky._get_session, True),
    "com.atproto.identity.resolveHandle": ("GET", FakeBluesky._resolve_handle, False),
    "app.bsky.actor.getProfile": ("GET", FakeBluesky._get_profile, True),
    "app.bsky.notification.listNotifications": ("GET", FakeBluesky._list_notifications, True),
    "app.bsky.notification.updateSeen": ("POST", FakeBluesky._update_seen, True),
    "app.bsky.feed.getPosts": ("GET", FakeBluesky._get_posts, True),
    "app.bsky.feed.getPostThread": ("GET", FakeBluesky._get_post_thread, True),
    "com.atproto.repo.createRecord": ("POST", FakeBluesky._create_record, True),
    "com.atproto.repo.deleteRecord": ("POST", FakeBluesky._delete_record, True),
    "com.atproto.repo.getRecord": ("GET", FakeBluesky._get_record, False),
    "com.atproto.repo.listRecords": ("GET", FakeBluesky._list_records, False),
    "com.atproto.repo.uploadBlob": ("POST", FakeBluesky._upload_blob, True),
    "chat.bsky.convo.getConvoForMembers": ("GET", FakeBluesky._get_convo_for_members, True),
    "chat.bsky.convo.sendMessage": ("POST", FakeBluesky._send_message, True),
}
"""NSID -> (HTTP method, handler, whether it needs an access token)."""


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _limit(call: Call, default: int) -> int:
    raw = call.param("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise _invalid(f"Params/limit must be between 1 and {MAX_PAGE}")
    return int(raw)


def _is_datetime(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _facet(text: str, start: int, end: int, feature: JsonDict) -> JsonDict:
    return {
        "index": {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())},
        "features": [feature],
    }


def _quoted(value: JsonDict) -> str | None:
    embed = value.get("embed") or {}
    quoted = embed.get("record") or {}
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        quoted = quoted.get("record") or {}
    uri = quoted.get("uri")
    return uri if isinstance(uri, str) else None


def _png(n: int) -> bytes:
    """A few bytes a sniffer takes for a PNG (distinct per `n`)."""
    return b"\x89PNG\r\n\x1a\n" + bytes([n]) * 16


def _rate_headers(limit: RateLimit, remaining: int, reset: int) -> dict[str, str]:
    return {
        "ratelimit-limit": str(limit.limit),
        "ratelimit-remaining": str(max(remaining, 0)),
        "ratelimit-reset": str(reset),
        "ratelimit-policy": f"{limit.limit};w={limit.window}",
    }


def _fault_body(status: int) -> JsonDict:
    names = {
        400: ("InvalidRequest", "Invalid Request"),
        401: ("AuthenticationRequired", "Authentication Required"),
        403: ("Forbidden", "Forbidden"),
        404: ("NotFound", "Not Found"),
        429: ("RateLimitExceeded", "Rate Limit Exceeded"),
        500: ("InternalServerError", "Internal Server Error"),
        502: ("UpstreamFailure", "Upstream Failure"),
        503: ("NotEnoughResources", "Not Enough Resources"),
    }
    error, message = names.get(status, ("InternalServerError", "Internal Server Error"))
    return {"error": error, "message": message}


# --- HTTP plumbing ----------------------------------------------------------------------------


class _RequestHandler(LoopbackHandler):
    server_version = "FakeBluesky/1.0"

    @property
    def fake(self) -> FakeBluesky:
        return cast(FakeBluesky, self.service)

    def _dispatch(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        # Read the body first, or leftovers would corrupt the next request on this connection.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not is_loopback_host(self.headers.get("Host") or ""):
            self.close_connection = True
            self._send_json(403, {"error": "Forbidden", "message": "Only this computer."})
            return
        if parts.path.startswith("/_control/"):
            self._send_json(*fake._control(self.command, parts.path, body))
            return
        if not parts.path.startswith("/xrpc/"):
            self._send_json(404, {"error": "NotFound", "message": "Not Found"})
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        call = Call(self.command, parts.path, query, Headers(self.headers.items()), body)
        admission = fake._admit(call)
        headers = admission.rate_headers
        try:
            if admission.fault is not None:
                raise admission.fault
            status, payload = 200, fake._handle(call)
        except XrpcError as error:
            status, payload = error.status, error.body
            headers = {**headers, **error.headers}
        except Exception as error:
            # A bug in the fake: answer as the PDS's 500 and log it so the failing test says why.
            self.log_error("fake Bluesky failed on %s %s: %r", self.command, self.path, error)
            status, payload = 500, {"error": "InternalServerError", "message": repr(error)}
        if admission.delay:
            fake._stopping.wait(admission.delay)  # carried out already; only the answer is late
        if admission.lose_answer:
            self._drop()
            return
        self._send_json(status, payload, headers)


# --- standalone -------------------------------------------------------------------------------


FakeBluesky.handler = _RequestHandler  # defined after the fake it answers for


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake in the foreground with one brand account, printing how to connect Roost."""
    parser = argparse.ArgumentParser(
        description="Serve a fake Bluesky (PDS, AppView, chat) on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083, help="0 picks a free port")
    parser.add_argument("--handle", default="brand.bsky.social", help="the brand account's handle")
    parser.add_argument("--password", default=None, help="its app password (default: a new one)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    options = parser.parse_args(argv)

    fake = FakeBluesky(host=options.host, port=options.port, log_requests=not options.quiet).start()
    try:
        password = options.password or "-".join(secrets.token_hex(2) for _ in range(4))
        did = fake.add_account(options.handle, password)
        handle = fake._accounts[did].handle
        example = json.dumps({"author": "alice.bsky.social", "text": f"@{handle} hi!"})
        print(
            f"Fake Bluesky listening on {fake.url}\n"
            f"  brand account: {handle} ({did})\n"
            f"  app password:  {password}\n"
            f"Add a customer and inject a mention:\n"
            f"  curl -s -X POST {fake.url}/_control/accounts -H 'Content-Type: application/json' "
            f"""-d '{{"handle": "alice.bsky.social"}}'\n"""
            f"  curl -s -X POST {fake.url}/_control/mentions -H 'Content-Type: application/json' "
            f"-d '{example}'\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

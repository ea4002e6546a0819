"""A fake Mastodon instance speaking real HTTP on loopback.

Tests (and a person running Roost locally) give Mastodon.py ``api_base_url=FakeMastodon.url``
and a token from ``FakeMastodon.add_account``. The fake serves the endpoints Roost uses, in
the shapes of Mastodon's REST API documentation (docs.joinmastodon.org, Mastodon 4.3):

- ``GET /api/v1/instance`` and ``GET /api/v2/instance`` (``configuration.statuses``:
  ``max_characters`` is ``FakeMastodon.max_characters``, 500 unless set)
- ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/lookup``,
  ``GET /api/v1/accounts/:id/statuses``
- ``GET /api/v1/notifications`` (``types[]``, ``exclude_types[]``, ``max_id``, ``since_id``,
  ``min_id``, ``limit``; a ``Link`` header to page on)
- ``POST /api/v1/statuses`` (``Idempotency-Key``), ``GET`` and ``DELETE /api/v1/statuses/:id``,
  ``GET /api/v1/statuses/:id/context``, ``POST /api/v1/statuses/:id/reblog`` and ``/unreblog``
- ``POST /api/v2/media`` and ``GET /api/v1/media/:id``

plus ``/_control/...`` endpoints to drive it from outside the process (see
``FakeMastodon._control_action``).

What it holds to, as Mastodon does: bearer tokens (missing or unknown: 401 "The access token is
invalid"; revoked: 401 "The access token was revoked"); ids as strings, statuses' and
accounts' snowflake-like (a millisecond time shifted 16 bits, so Mastodon.py's datetime
bounds work on them) and notifications' a plain sequence; a status's length counted as
``StatusLengthValidator`` counts it (grapheme clusters, a URL as 23, ``@user@domain`` as
``@user``, the content warning included); a private status seen only by its author, its
followers and the accounts it mentions, a direct one by its author and those it mentions,
and a mention of a local or known remote account as a ``mention`` notification; an
Idempotency-Key answering a repeat with the status it made, for an hour; rate limits per
account (300 requests in 5 minutes, 30 media uploads in 30 minutes, 300 statuses in 3
hours) with ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (ISO
8601) and a 429 ``{"error": "Too many requests"}``; errors as ``{"error": "..."}``.
Any request whose Host is not this computer is refused with 403.

Run standalone with ``python -m sandbox.mastodon_api [--port 8083] [--user brand]``.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import html
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import regex
import twitter_text

from sandbox.loopback import is_loopback_host
from sandbox.serving import LoopbackHandler, LoopbackService

JsonDict = dict[str, Any]

VERSION = "4.3.0"
API_VERSION = 2  # api_versions.mastodon that Mastodon 4.3 reports
MAX_CHARACTERS = 500
CHARACTERS_RESERVED_PER_URL = 23
MAX_MEDIA_ATTACHMENTS = 4
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024
VIDEO_SIZE_LIMIT = 99 * 1024 * 1024
IMAGE_MATRIX_LIMIT = 33_177_600  # pixels: 7680 x 4320
DESCRIPTION_LIMIT = 1500  # characters of a media attachment's alt text
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
AUDIO_TYPES = ("audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4")
IDEMPOTENCY_SECONDS = 3600.0
"""How long Mastodon remembers an Idempotency-Key (in Redis): a repeat within the hour gets
the status the first try made."""

NOTIFICATIONS_LIMIT = (40, 80)  # (default, most) notifications a page holds
STATUSES_LIMIT = (20, 40)  # (default, most) statuses a page of an account's statuses holds

RATE_LIMITS: dict[str, tuple[int, float]] = {
    "api": (300, 300.0),  # every API request, per account (per address without a token)
    "media": (30, 1800.0),  # media uploads, per account
    "statuses": (300, 10_800.0),  # statuses posted, per account
}
"""Mastodon's throttles: family -> (requests, window seconds). Windows start at multiples of
their length since the epoch, as Rack::Attack's do."""

INVALID_TOKEN = "The access token is invalid"
REVOKED_TOKEN = "The access token was revoked"
NOT_FOUND = "Record not found"
NOT_ALLOWED = "This action is not allowed"
TOO_MANY_REQUESTS = "Too many requests"
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."
MEDIA_PROCESSING = "Cannot attach files that have not finished processing. Try again in a moment!"
TOO_MANY_MEDIA = "You cannot attach more than 4 files."

_FIRST_NOTIFICATION_ID = 1000

# Account::USERNAME_RE and MENTION_RE (Mastodon 4.3), and twitter-text's end_mention_match.
_USERNAME = r"[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?"
_MENTION = re.compile(rf"(?<![=/\w])@(({_USERNAME})(?:@[\w.-]+\w+)?)(?![@＠\w]|://)", re.IGNORECASE)
_GRAPHEME = regex.compile(r"\X")
_PATH_ID = r"([0-9]+)"


def _iso(moment: datetime) -> str:
    """Mastodon's timestamps: UTC, milliseconds, Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


# --- how Mastodon reads a status's text --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entity:
    start: int
    end: int
    url: str | None = None
    screen_name: str | None = None


def _entities(text: str) -> list[_Entity]:
    """URLs (with a scheme) and mentions, overlapping ones dropped, as Mastodon's Extractor
    finds them."""
    found = [
        _Entity(url["indices"][0], url["indices"][1], url=url["url"])
        for url in twitter_text.extract_urls_with_indices(text, extract_urls_without_protocol=False)
    ]
    found += [
        _Entity(match.start(), match.end(), screen_name=match.group(1))
        for match in _MENTION.finditer(text)
    ]
    kept: list[_Entity] = []
    for entity in sorted(found, key=lambda one: one.start):
        if kept and entity.start < kept[-1].end:
            continue
        kept.append(entity)
    return kept


def status_length(text: str, spoiler_text: str = "") -> int:
    """A status's length as Mastodon's StatusLengthValidator counts it against
    ``max_characters``: grapheme clusters of the content warning and the text, with each URL
    counted as 23 and each mention as its local part (``@alice@example.org`` as ``@alice``)."""
    countable = ""
    if text.strip():
        position = 0
        for entity in _entities(text):
            countable += text[position : entity.start]
            if entity.url is not None:
                countable += "x" * CHARACTERS_RESERVED_PER_URL
            else:
                countable += "@" + (entity.screen_name or "").split("@")[0]
            position = entity.end
        countable += text[position:]
    return len(_GRAPHEME.findall(spoiler_text + countable))


# --- records -----------------------------------------------------------------------------------


class Headers(dict[str, str]):
    """Request headers; keys are stored lower-case and looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as the fake received it (control endpoints are not recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    def first(self, name: str) -> str | None:
        """The query's first value for `name`."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class _Account:
    id: int
    username: str
    domain: str | None  # None: an account of this instance
    display_name: str
    created_at: datetime

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"


@dataclass(slots=True)
class _Media:
    id: int
    owner_id: int
    kind: str  # image, gifv, video, audio
    mime: str
    size: int
    description: str | None
    processing_left: int  # GET /api/v1/media/:id answers before it is processed
    status_id: int | None = None


@dataclass(slots=True)
class _Status:
    id: int
    account_id: int
    text: str
    spoiler_text: str
    visibility: str
    language: str | None
    created_at: datetime
    in_reply_to_id: int | None = None
    in_reply_to_account_id: int | None = None
    mentions: tuple[int, ...] = ()  # account ids, in the order the text names them
    media_ids: tuple[int, ...] = ()
    reblog_of: int | None = None


@dataclass(frozen=True, slots=True)
class _Notification:
    id: int
    type: str
    account_id: int  # whose notification it is
    from_account_id: int
    status_id: int | None
    created_at: datetime


@dataclass(slots=True)
class _Fault:
    path_prefix: str
    status: int
    times: int
    method: str | None
    body: JsonDict | None


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


@dataclass(slots=True)
class _Answer:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer, in Mastodon's shape: ``{"error": message}`` unless `body` is given."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        body: JsonDict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"error": message}
        self.headers = dict(headers or {})


class _UnknownControl(Exception):
    pass


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND)


def _validation(*messages: str) -> ApiError:
    return ApiError(422, "Validation failed: " + ", ".join(messages))


def _id_param(value: str | None) -> int | None:
    """An id from a query or form, as Rails casts it (junk reads as no bound)."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _limit(value: str | None, default: int, most: int) -> int:
    number = _id_param(value)
    return default if number is None or number < 1 else min(number, most)


def _page(ids_newest_first: Sequence[int], call: Call, default: int, most: int) -> list[int]:
    """One page of ids by Mastodon's rules: all below ``max_id``; above ``since_id`` the newest
    of them, above ``min_id`` the oldest of them (the page right after it); newest first."""
    max_id, since_id, min_id = (
        _id_param(call.first(name)) for name in ("max_id", "since_id", "min_id")
    )
    limit = _limit(call.first("limit"), default, most)
    found = [
        one
        for one in ids_newest_first
        if (max_id is None or one < max_id)
        and (since_id is None or one > since_id)
        and (min_id is None or one > min_id)
    ]
    return found[-limit:] if min_id is not None else found[:limit]


# --- the fake ----------------------------------------------------------------------------------


class FakeMastodon(LoopbackService):
    """A fake Mastodon instance on loopback; all state lives under one lock."""

    thread_name = "fake-mastodon"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        title: str = "Roost sandbox",
        log_requests: bool = False,
    ) -> None:
        """Configure the server; nothing listens until `start()`. Its limits are attributes
        a test may change at any time: `max_characters`, `max_media_attachments`,
        `image_size_limit`, `video_size_limit`, `media_processing_polls` (answers of
        GET /api/v1/media/:id before a video is processed)."""
        self._serve_on(host, port)
        self.title = title
        self.log_requests = log_requests
        self.version = VERSION
        self.max_characters = MAX_CHARACTERS
        self.max_media_attachments = MAX_MEDIA_ATTACHMENTS
        self.image_size_limit = IMAGE_SIZE_LIMIT
        self.video_size_limit = VIDEO_SIZE_LIMIT
        self.media_processing_polls = 1
        self.rate_limits = dict(RATE_LIMITS)

        self._lock = threading.Lock()

        self._accounts: dict[int, _Account] = {}
        self._by_acct: dict[str, int] = {}  # lower-cased acct -> account id
        self._tokens: dict[str, int] = {}  # access token -> account id
        self._revoked: set[str] = set()
        self._follows: set[tuple[int, int]] = set()  # (follower, followed)
        self._statuses: dict[int, _Status] = {}
        self._media: dict[int, _Media] = {}
        self._notifications: dict[int, _Notification] = {}
        self._idempotency: dict[tuple[int, str], tuple[int, float]] = {}
        self._last_snowflake = 0
        self._next_notification_id = _FIRST_NOTIFICATION_ID

        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._lost_answers: list[_LostAnswer] = []
        # (family, whose, window start) -> requests counted in that window
        self._rate_counts: dict[tuple[str, str, int], int] = {}
        self.rate_limited = 0
        """How many 429s the fake has answered."""

    # --- lifecycle ---

    @property
    def domain(self) -> str:
        """The instance's domain, as remote accounts write the accounts of this one."""
        return urlsplit(self.url).netloc

    # --- accounts and tokens ---

    def add_account(self, username: str, *, display_name: str | None = None) -> tuple[str, str]:
        """A local account and an access token for it: (account id, token). An existing
        account gets a further token."""
        if "@" in username or not re.fullmatch(_USERNAME, username, re.IGNORECASE):
            raise ValueError(f"not a local username: {username!r}")
        with self._lock:
            account = self._account_named(username) or self._new_account(
                username, None, display_name
            )
            token = secrets.token_urlsafe(32)
            self._tokens[token] = account.id
            return str(account.id), token

    def add_remote(self, acct: str, *, display_name: str | None = None) -> str:
        """An account of another instance this one knows (``alice@example.org``); its id."""
        username, _, domain = acct.partition("@")
        if not domain or not re.fullmatch(_USERNAME, username, re.IGNORECASE):
            raise ValueError(f"not a remote acct: {acct!r}")
        with self._lock:
            account = self._account_named(acct) or self._new_account(username, domain, display_name)
            return str(account.id)

    def revoke(self, token: str) -> None:
        """Revoke a token: every later request with it answers 401 "The access token was
        revoked"."""
        with self._lock:
            if token not in self._tokens:
                raise ValueError("unknown token")
            self._revoked.add(token)

    def follow(self, follower: str, followed: str) -> None:
        """`follower` follows `followed` (accts): it sees `followed`'s private statuses."""
        with self._lock:
            self._follows.add((self._require(follower).id, self._require(followed).id))

    def account_id(self, acct: str) -> str:
        """The id of the account `acct` (``alice`` or ``alice@example.org``)."""
        with self._lock:
            return str(self._require(acct).id)

    def _new_account(self, username: str, domain: str | None, display_name: str | None) -> _Account:
        account = _Account(
            id=self._snowflake(),
            username=username,
            domain=domain,
            display_name=display_name if display_name is not None else username.capitalize(),
            created_at=datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0),
        )
        self._accounts[account.id] = account
        self._by_acct[account.acct.lower()] = account.id
        return account

    def _account_named(self, acct: str) -> _Account | None:
        name = acct.removeprefix("@").lower()
        username, _, domain = name.partition("@")
        if domain and self._server is not None and domain == self.domain.lower():
            name = username
        found = self._by_acct.get(name)
        return None if found is None else self._accounts[found]

    def _require(self, acct: str) -> _Account:
        account = self._account_named(acct)
        if account is None:
            raise ValueError(f"no account {acct!r}")
        return account

    # --- statuses, as people elsewhere make them ---

    def post_status(
        self,
        author: str,
        text: str,
        *,
        visibility: str = "public",
        in_reply_to: str | None = None,
        spoiler_text: str = "",
        language: str | None = "en",
    ) -> JsonDict:
        """A status by `author` (a local username or a remote acct, made if unknown), carried
        out as Mastodon carries out a posted or federated one: mentions resolved and
        notified. Its JSON, as its author sees it. No length check: remote statuses have none."""
        with self._lock:
            account = self._account_named(author)
            if account is None:
                username, _, domain = author.removeprefix("@").partition("@")
                account = self._new_account(username, domain or None, None)
            parent = None
            if in_reply_to is not None:
                parent = self._statuses.get(int(in_reply_to))
                if parent is None:
                    raise ValueError(f"no status {in_reply_to}")
            status = self._store_status(
                account, text, visibility, parent, spoiler_text, language, ()
            )
            return self._status_json(status, account)

    def post_mention(
        self,
        author: str,
        text: str,
        *,
        visibility: str = "public",
        in_reply_to: str | None = None,
        to: str | None = None,
        language: str | None = "en",
    ) -> JsonDict:
        """A status by `author` that mentions `to` (the first local account unless given),
        so that a mention notification reaches it: ``@to`` goes in front of `text` when the
        text does not name it already."""
        with self._lock:
            if to is None:
                local = [account for account in self._accounts.values() if account.domain is None]
                if not local:
                    raise ValueError("no local account to mention: add_account first")
                to = local[0].acct
            target = self._require(to)
            named = [self._account_named(match.group(1)) for match in _MENTION.finditer(text)]
        if not any(one is not None and one.id == target.id for one in named):
            text = f"@{target.acct} {text}"
        return self.post_status(
            author, text, visibility=visibility, in_reply_to=in_reply_to, language=language
        )

    def delete_status(self, status_id: str) -> None:
        """Delete a status as its author would (its notifications go with it)."""
        with self._lock:
            self._remove_status(self._statuses[int(status_id)])

    def status(self, status_id: str) -> JsonDict:
        """A status's JSON, as its author sees it."""
        with self._lock:
            status = self._statuses[int(status_id)]
            return self._status_json(status, self._accounts[status.account_id])

    def statuses_by(self, acct: str) -> list[JsonDict]:
        """Every status of `acct`, reblogs included, oldest first, as its author sees them."""
        with self._lock:
            account = self._require(acct)
            return [
                self._status_json(status, account)
                for status in sorted(self._statuses.values(), key=lambda one: one.id)
                if status.account_id == account.id
            ]

    def reblogs_of(self, status_id: str) -> list[str]:
        """The accts that reblogged a status, in the order they did."""
        with self._lock:
            return [
                self._accounts[status.account_id].acct
                for status in sorted(self._statuses.values(), key=lambda one: one.id)
                if status.reblog_of == int(status_id)
            ]

    def notifications_of(self, acct: str) -> list[JsonDict]:
        """Every notification of `acct`, oldest first."""
        with self._lock:
            account = self._require(acct)
            return [
                self._notification_json(one, account)
                for one in sorted(self._notifications.values(), key=lambda one: one.id)
                if one.account_id == account.id
            ]

    def media_of(self, acct: str) -> list[JsonDict]:
        """Every upload of `acct`, oldest first."""
        with self._lock:
            account = self._require(acct)
            return [
                self._media_json(media)
                for media in sorted(self._media.values(), key=lambda one: one.id)
                if media.owner_id == account.id
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
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` (and of
        `method`, if given) with `status`, without carrying them out. The body is
        ``{"error": <the status's phrase>}`` unless `body` is given; a 429 carries the rate
        headers of a spent window."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_Fault(path_prefix, status, times, method, body))

    def clear_faults(self) -> None:
        """Forget every pending fault, delay and lost answer."""
        with self._lock:
            self._faults, self._delays, self._lost_answers = [], [], []

    def slow(self, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Delay the answers to the next `times` requests whose path starts with
        `path_prefix`. The request is carried out at once and only its answer waits, so a
        status exists while a client that gave up on the answer does not know it."""
        with self._lock:
            self._delays.append(_Delay(path_prefix, seconds, times))

    def lose_answer(self, path_prefix: str, *, method: str | None = "POST", times: int = 1) -> None:
        """Carry out the next `times` requests whose path starts with `path_prefix` (and of
        `method`; None for any), then close their connections without an answer."""
        with self._lock:
            self._lost_answers.append(_LostAnswer(path_prefix, method, times))

    def set_rate_limit(self, family: str, limit: int, seconds: float) -> None:
        """Change one throttle ("api", "media" or "statuses"): `limit` requests a window of
        `seconds` (a test shortens them to reach the limit and see it pass)."""
        if family not in RATE_LIMITS:
            raise ValueError(f"no rate limit {family!r}: one of {sorted(RATE_LIMITS)}")
        with self._lock:
            self.rate_limits[family] = (limit, seconds)
            self._rate_counts = {
                key: count for key, count in self._rate_counts.items() if key[0] != family
            }

    @property
    def calls(self) -> list[Call]:
        """Every API request so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, path_prefix: str, method: str | None = None) -> list[Call]:
        """The API requests whose path starts with `path_prefix` (and of `method`, if given)."""
        with self._lock:
            return [
                call
                for call in self._calls
                if call.path.startswith(path_prefix)
                and (method is None or call.method == method.upper())
            ]

    # --- request handling (called from handler threads) ---

    def _admit(self, call: Call) -> tuple[float, ApiError | None, bool, dict[str, str]]:
        """Record a call; decide its delay, injected fault or 429, lost answer and rate
        headers."""
        with self._lock:
            self._calls.append(call)
            delay = 0.0
            for slow in self._delays:
                if call.path.startswith(slow.path_prefix):
                    delay, slow.times = slow.seconds, slow.times - 1
                    break
            self._delays = [slow for slow in self._delays if slow.times > 0]
            lose = False
            for lost in self._lost_answers:
                if call.path.startswith(lost.path_prefix) and lost.method in (None, call.method):
                    lose, lost.times = True, lost.times - 1
                    break
            self._lost_answers = [lost for lost in self._lost_answers if lost.times > 0]
            headers, limited = self._count(call)
            fault = None
            for pending in self._faults:
                if call.path.startswith(pending.path_prefix) and (
                    pending.method is None or pending.method.upper() == call.method
                ):
                    fault, pending.times = pending, pending.times - 1
                    break
            self._faults = [pending for pending in self._faults if pending.times > 0]
        if fault is None:
            return delay, limited, lose, headers
        if fault.status == 429:
            headers = {**headers, "X-RateLimit-Remaining": "0"}
        message = str((fault.body or {}).get("error") or _phrase(fault.status))
        return delay, ApiError(fault.status, message, headers, fault.body), lose, headers

    def _count(self, call: Call) -> tuple[dict[str, str], ApiError | None]:
        """Count the call against its throttles (caller holds the lock): the rate headers of
        the tightest, and the 429 when one is spent."""
        if not call.path.startswith("/api/"):
            return {}, None
        token = _bearer(call.headers)
        owner = self._tokens.get(token or "")
        whose = f"account:{owner}" if owner is not None and token not in self._revoked else "ip"
        families = ["api"]
        if call.method == "POST" and re.fullmatch(r"/api/v[12]/media/?", call.path):
            families.append("media")
        if call.method == "POST" and re.fullmatch(r"/api/v1/statuses/?", call.path):
            families.append("statuses")
        now = time.time()
        tightest: tuple[int, int, float] | None = None  # (remaining, limit, reset epoch)
        spent = False
        for family in families:
            limit, seconds = self.rate_limits[family]
            if family != "api" and whose == "ip":
                continue
            start = math.floor(now / seconds)
            key = (family, whose, start)
            count = self._rate_counts.get(key, 0) + 1
            self._rate_counts[key] = count
            reset = (start + 1) * seconds
            remaining = max(limit - count, 0)
            spent = spent or count > limit
            if tightest is None or remaining <= tightest[0]:
                tightest = (remaining, limit, reset)
        assert tightest is not None
        remaining, limit, reset = tightest
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": datetime.fromtimestamp(reset, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
        }
        if not spent:
            return headers, None
        self.rate_limited += 1
        return headers, ApiError(429, TOO_MANY_REQUESTS, headers)

    def _viewer(self, call: Call, *, required: bool) -> _Account | None:
        """The account whose token the call carries (caller holds the lock): a token that is
        given must be good, as Doorkeeper checks it, and `required` needs one."""
        token = _bearer(call.headers)
        if token is None:
            if required:
                raise ApiError(401, INVALID_TOKEN)
            return None
        if token in self._revoked:
            raise ApiError(401, REVOKED_TOKEN)
        owner = self._tokens.get(token)
        if owner is None:
            raise ApiError(401, INVALID_TOKEN)
        return self._accounts[owner]

    def _handle_api(self, call: Call) -> _Answer:
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(pattern, call.path)
            if match and method == call.method:
                with self._lock:
                    handler = getattr(self, name)
                    return cast(_Answer, handler(call, *match.groups()))
        if any(re.fullmatch(pattern, call.path) for _, pattern, _ in _ROUTES):
            raise ApiError(405, "Method Not Allowed")
        raise ApiError(404, "Not Found")

    # --- endpoints (each runs under the lock) ---

    def _instance_v1(self, call: Call) -> _Answer:
        return _Answer(
            200,
            {
                "uri": self.domain,
                "title": self.title,
                "short_description": "A fake Mastodon instance for Roost's tests.",
                "description": "",
                "email": "admin@example.org",
                "version": self.version,
                "urls": {"streaming_api": "ws" + self.url.removeprefix("http")},
                "stats": {
                    "user_count": sum(1 for one in self._accounts.values() if one.domain is None),
                    "status_count": len(self._statuses),
                    "domain_count": len({one.domain for one in self._accounts.values()}),
                },
                "thumbnail": None,
                "languages": ["en", "ko"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": self._configuration(),
                "contact_account": None,
                "rules": [],
            },
        )

    def _instance_v2(self, call: Call) -> _Answer:
        return _Answer(
            200,
            {
                "domain": self.domain,
                "title": self.title,
                "version": self.version,
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A fake Mastodon instance for Roost's tests.",
                "usage": {"users": {"active_month": len(self._accounts)}},
                "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"},
                "icon": [],
                "languages": ["en", "ko"],
                "configuration": {
                    "urls": {"streaming": "ws" + self.url.removeprefix("http"), "status": None},
                    "vapid": {"public_key": ""},
                    "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                    **self._configuration(),
                    "translation": {"enabled": False},
                },
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "api_versions": {"mastodon": API_VERSION},
                "contact": {"email": "admin@example.org", "account": None},
                "rules": [],
            },
        )

    def _configuration(self) -> JsonDict:
        return {
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": self.max_media_attachments,
                "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
            },
            "media_attachments": {
                "supported_mime_types": [*IMAGE_TYPES, *VIDEO_TYPES, *AUDIO_TYPES],
                "description_limit": DESCRIPTION_LIMIT,
                "image_size_limit": self.image_size_limit,
                "image_matrix_limit": IMAGE_MATRIX_LIMIT,
                "video_size_limit": self.video_size_limit,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8_294_400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2_629_746,
            },
        }

    def _verify_credentials(self, call: Call) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        payload = self._account_json(viewer)
        payload["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
        }
        return _Answer(200, payload)

    def _lookup_account(self, call: Call) -> _Answer:
        self._viewer(call, required=False)
        account = self._account_named(call.first("acct") or "")
        if account is None:
            raise _not_found()
        return _Answer(200, self._account_json(account))

    def _account_statuses(self, call: Call, account_id: str) -> _Answer:
        viewer = self._viewer(call, required=False)
        account = self._accounts.get(int(account_id))
        if account is None:
            raise _not_found()
        flags = {name for name in call.query if (call.first(name) or "").lower() in ("1", "true")}
        statuses = [
            status
            for status in sorted(self._statuses.values(), key=lambda one: -one.id)
            if status.account_id == account.id
            and self._can_see(viewer, status)
            and not ("exclude_replies" in flags and status.in_reply_to_id is not None)
            and not ("exclude_reblogs" in flags and status.reblog_of is not None)
            and not ("exclude_direct" in flags and status.visibility == "direct")
            and not ("only_media" in flags and not status.media_ids)
        ]
        if "pinned" in flags:
            statuses = []
        page = _page([status.id for status in statuses], call, *STATUSES_LIMIT)
        payload = [self._status_json(self._statuses[one], viewer) for one in page]
        limit = _limit(call.first("limit"), *STATUSES_LIMIT)
        return _Answer(200, payload, self._links(call, page, limit))

    def _list_notifications(self, call: Call) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        types = set(call.query.get("types[]", [])) | set(call.query.get("types", []))
        excluded = set(call.query.get("exclude_types[]", [])) | set(
            call.query.get("exclude_types", [])
        )
        mine = [
            one
            for one in sorted(self._notifications.values(), key=lambda one: -one.id)
            if one.account_id == viewer.id
            and (not types or one.type in types)
            and one.type not in excluded
        ]
        page = _page([one.id for one in mine], call, *NOTIFICATIONS_LIMIT)
        payload = [self._notification_json(self._notifications[one], viewer) for one in page]
        limit = _limit(call.first("limit"), *NOTIFICATIONS_LIMIT)
        return _Answer(200, payload, self._links(call, page, limit))

    def _get_status(self, call: Call, status_id: str) -> _Answer:
        viewer = self._viewer(call, required=False)
        return _Answer(200, self._status_json(self._visible(viewer, status_id), viewer))

    def _context(self, call: Call, status_id: str) -> _Answer:
        viewer = self._viewer(call, required=False)
        status = self._visible(viewer, status_id)
        ancestors = []
        parent_id = status.in_reply_to_id
        while parent_id is not None and parent_id in self._statuses:
            parent = self._statuses[parent_id]
            if self._can_see(viewer, parent):
                ancestors.append(parent)
            parent_id = parent.in_reply_to_id
        descendants = []
        frontier = [status.id]
        while frontier:
            children = sorted(
                (one for one in self._statuses.values() if one.in_reply_to_id in frontier),
                key=lambda one: one.id,
            )
            descendants += [one for one in children if self._can_see(viewer, one)]
            frontier = [one.id for one in children]
        return _Answer(
            200,
            {
                "ancestors": [self._status_json(one, viewer) for one in reversed(ancestors)],
                "descendants": [self._status_json(one, viewer) for one in descendants],
            },
        )

    def _create_status(self, call: Call) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        form = _form(call)
        key = call.headers.get("Idempotency-Key")
        now = time.monotonic()
        self._idempotency = {k: v for k, v in self._idempotency.items() if v[1] > now}
        if key:
            earlier = self._idempotency.get((viewer.id, key))
            if earlier is not None and earlier[0] in self._statuses:
                return _Answer(200, self._status_json(self._statuses[earlier[0]], viewer))
        text = (form.get("status") or [""])[0]
        spoiler = (form.get("spoiler_text") or [""])[0]
        visibility = (form.get("visibility") or ["public"])[0] or "public"
        language = (form.get("language") or [""])[0] or None
        media_ids = [int(one) for one in form.get("media_ids[]", form.get("media_ids", [])) if one]
        parent = None
        reply_to = (form.get("in_reply_to_id") or [""])[0]
        if reply_to:
            parent = self._statuses.get(_id_param(reply_to) or 0)
            if parent is None or not self._can_see(viewer, parent):
                raise ApiError(404, REPLY_NOT_FOUND)
        if visibility not in ("public", "unlisted", "private", "direct"):
            raise _validation("Visibility is not included in the list")
        if len(media_ids) > self.max_media_attachments:
            raise ApiError(422, TOO_MANY_MEDIA.replace("4", str(self.max_media_attachments)))
        attached = [
            self._media[one]
            for one in media_ids
            if one in self._media
            and self._media[one].owner_id == viewer.id
            and self._media[one].status_id is None
        ]
        if any(media.processing_left > 0 for media in attached):
            raise ApiError(422, MEDIA_PROCESSING)
        if not text.strip() and not attached:
            raise _validation("Text can't be blank")
        if status_length(text, spoiler) > self.max_characters:
            raise _validation(f"Text character limit of {self.max_characters} exceeded")
        status = self._store_status(
            viewer, text, visibility, parent, spoiler, language, tuple(m.id for m in attached)
        )
        if key:
            self._idempotency[(viewer.id, key)] = (status.id, now + IDEMPOTENCY_SECONDS)
        return _Answer(200, self._status_json(status, viewer))

    def _delete_status(self, call: Call, status_id: str) -> _Answer:
        viewer = self._viewer(call, required=True)
        status = self._visible(viewer, status_id)
        if viewer is None or status.account_id != viewer.id:
            raise ApiError(403, NOT_ALLOWED)
        payload = self._status_json(status, viewer)
        payload["text"] = status.text
        self._remove_status(status)
        return _Answer(200, payload)

    def _reblog(self, call: Call, status_id: str) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        original = self._visible(viewer, status_id)
        if original.reblog_of is not None:
            original = self._statuses[original.reblog_of]
        if original.visibility in ("private", "direct"):
            raise ApiError(403, NOT_ALLOWED)
        existing = self._reblog_by(viewer, original)
        if existing is not None:
            return _Answer(200, self._status_json(existing, viewer))
        visibility = (_form(call).get("visibility") or ["public"])[0] or "public"
        reblog = _Status(
            id=self._snowflake(),
            account_id=viewer.id,
            text="",
            spoiler_text="",
            visibility=visibility,
            language=None,
            created_at=datetime.now(UTC),
            reblog_of=original.id,
        )
        self._statuses[reblog.id] = reblog
        if original.account_id != viewer.id:
            self._notify("reblog", original.account_id, viewer.id, original.id)
        return _Answer(200, self._status_json(reblog, viewer))

    def _unreblog(self, call: Call, status_id: str) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        original = self._visible(viewer, status_id)
        existing = self._reblog_by(viewer, original)
        if existing is not None:
            self._remove_status(existing)
        return _Answer(200, self._status_json(original, viewer))

    def _upload_media(self, call: Call) -> _Answer:
        viewer = self._viewer(call, required=True)
        assert viewer is not None
        parts = _multipart(call)
        if "file" not in parts:
            raise _validation("File can't be blank")
        data, mime = parts["file"]
        description = parts["description"][0].decode() if "description" in parts else None
        if mime in IMAGE_TYPES:
            kind, limit = ("gifv" if mime == "image/gif" else "image"), self.image_size_limit
        elif mime in VIDEO_TYPES or mime in AUDIO_TYPES:
            kind, limit = ("video" if mime in VIDEO_TYPES else "audio"), self.video_size_limit
        else:
            raise _validation("File content type is invalid", "File is invalid")
        if len(data) > limit:
            raise _validation(f"File file size must be less than {limit // (1024 * 1024)} MB")
        if description is not None and len(description) > DESCRIPTION_LIMIT:
            raise _validation(
                f"Description is too long (maximum is {DESCRIPTION_LIMIT} characters)"
            )
        # Still images are processed in the request; GIFs (made videos) and videos after it.
        synchronous = kind == "image"
        media = _Media(
            id=self._snowflake(),
            owner_id=viewer.id,
            kind=kind,
            mime=mime,
            size=len(data),
            description=description or None,
            processing_left=0 if synchronous else self.media_processing_polls,
        )
        self._media[media.id] = media
        return _Answer(200 if synchronous else 202, self._media_json(media))

    def _get_media(self, call: Call, media_id: str) -> _Answer:
        viewer = self._viewer(call, required=True)
        media = self._media.get(int(media_id))
        if viewer is None or media is None or media.owner_id != viewer.id:
            raise _not_found()
        if media.processing_left > 0:
            media.processing_left -= 1
            return _Answer(206, self._media_json(media, processing=True))
        return _Answer(200, self._media_json(media))

    # --- state (caller holds the lock) ---

    def _snowflake(self) -> int:
        """A Mastodon id: milliseconds since the epoch shifted 16 bits, plus a sequence so that
        ids made in the same millisecond still increase."""
        candidate = int(time.time() * 1000) << 16
        self._last_snowflake = max(candidate, self._last_snowflake + 1)
        return self._last_snowflake

    def _store_status(
        self,
        account: _Account,
        text: str,
        visibility: str,
        parent: _Status | None,
        spoiler_text: str,
        language: str | None,
        media_ids: tuple[int, ...],
    ) -> _Status:
        mentioned: list[int] = []
        for entity in _entities(text):
            if entity.screen_name is None:
                continue
            named = self._account_named(entity.screen_name)
            if named is not None and named.id not in mentioned:
                mentioned.append(named.id)
        status = _Status(
            id=self._snowflake(),
            account_id=account.id,
            text=text,
            spoiler_text=spoiler_text,
            visibility=visibility,
            language=language,
            created_at=datetime.now(UTC),
            in_reply_to_id=None if parent is None else parent.id,
            in_reply_to_account_id=None if parent is None else parent.account_id,
            mentions=tuple(mentioned),
            media_ids=media_ids,
        )
        self._statuses[status.id] = status
        for media_id in media_ids:
            self._media[media_id].status_id = status.id
        for account_id in mentioned:
            if account_id != account.id and self._accounts[account_id].domain is None:
                self._notify("mention", account_id, account.id, status.id)
        return status

    def _notify(self, kind: str, account_id: int, from_id: int, status_id: int | None) -> None:
        notification = _Notification(
            id=self._next_notification_id,
            type=kind,
            account_id=account_id,
            from_account_id=from_id,
            status_id=status_id,
            created_at=datetime.now(UTC),
        )
        self._next_notification_id += 1
        self._notifications[notification.id] = notification

    def _remove_status(self, status: _Status) -> None:
        gone = {status.id} | {
            one.id for one in self._statuses.values() if one.reblog_of == status.id
        }
        for status_id in gone:
            del self._statuses[status_id]
        self._notifications = {
            key: one for key, one in self._notifications.items() if one.status_id not in gone
        }
        for media in self._media.values():
            if media.status_id in gone:
                media.status_id = None

    def _reblog_by(self, account: _Account, original: _Status) -> _Status | None:
        return next(
            (
                one
                for one in self._statuses.values()
                if one.reblog_of == original.id and one.account_id == account.id
            ),
            None,
        )

    def _can_see(self, viewer: _Account | None, status: _Status) -> bool:
        if status.visibility in ("public", "unlisted"):
            return True
        if viewer is None:
            return False
        if viewer.id == status.account_id or viewer.id in status.mentions:
            return True
        return status.visibility == "private" and (viewer.id, status.account_id) in self._follows

    def _visible(self, viewer: _Account | None, status_id: str) -> _Status:
        status = self._statuses.get(int(status_id))
        if status is None or not self._can_see(viewer, status):
            raise _not_found()
        return status

    def _links(self, call: Call, page: Sequence[int], limit: int) -> dict[str, str]:
        """The Link header Mastodon sends with a page: ``next`` (older) while pages may go on,
        ``prev`` (newer) whenever the page holds something."""
        if not page:
            return {}
        kept = [
            (name, value)
            for name, values in call.query.items()
            if name not in ("max_id", "since_id", "min_id")
            for value in values
        ]
        links = []
        if len(page) >= limit:
            links.append(
                f'<{self.url}{call.path}?{urlencode([*kept, ("max_id", page[-1])])}>; rel="next"'
            )
        links.append(
            f'<{self.url}{call.path}?{urlencode([*kept, ("min_id", page[0])])}>; rel="prev"'
        )
        return {"Link": ", ".join(links)}

    # --- JSON, as the REST API serves it (caller holds the lock) ---

    def _account_url(self, account: _Account) -> str:
        if account.domain is None:
            return f"{self.url}/@{account.username}"
        return f"https://{account.domain}/@{account.username}"

    def _account_json(self, account: _Account) -> JsonDict:
        statuses = [one for one in self._statuses.values() if one.account_id == account.id]
        last = max((one.created_at for one in statuses), default=None)
        return {
            "id": str(account.id),
            "username": account.username,
            "acct": account.acct,
            "display_name": account.display_name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": _iso(account.created_at),
            "note": "",
            "url": self._account_url(account),
            "uri": (
                f"{self.url}/users/{account.username}"
                if account.domain is None
                else f"https://{account.domain}/users/{account.username}"
            ),
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": sum(1 for _, followed in self._follows if followed == account.id),
            "following_count": sum(1 for follower, _ in self._follows if follower == account.id),
            "statuses_count": len(statuses),
            "last_status_at": None if last is None else last.date().isoformat(),
            "emojis": [],
            "fields": [],
        }

    def _status_json(self, status: _Status, viewer: _Account | None) -> JsonDict:
        account = self._accounts[status.account_id]
        reblog = None
        if status.reblog_of is not None and status.reblog_of in self._statuses:
            reblog = self._status_json(self._statuses[status.reblog_of], viewer)
        base = (
            f"{self.url}/@{account.username}"
            if account.domain is None
            else f"https://{account.domain}/@{account.username}"
        )
        reblogs = [one for one in self._statuses.values() if one.reblog_of == status.id]
        return {
            "id": str(status.id),
            "created_at": _iso(status.created_at),
            "in_reply_to_id": None if status.in_reply_to_id is None else str(status.in_reply_to_id),
            "in_reply_to_account_id": (
                None
                if status.in_reply_to_account_id is None
                else str(status.in_reply_to_account_id)
            ),
            "sensitive": False,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{base.replace('/@', '/users/')}/statuses/{status.id}",
            "url": None if reblog is not None else f"{base}/{status.id}",
            "replies_count": sum(
                1 for one in self._statuses.values() if one.in_reply_to_id == status.id
            ),
            "reblogs_count": len(reblogs),
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": viewer is not None and any(one.account_id == viewer.id for one in reblogs),
            "muted": False,
            "bookmarked": False,
            "content": "" if reblog is not None else self._content(status),
            "filtered": [],
            "reblog": reblog,
            "application": None,
            "account": self._account_json(account),
            "media_attachments": [
                self._media_json(self._media[one]) for one in status.media_ids if one in self._media
            ],
            "mentions": [
                {
                    "id": str(one),
                    "username": self._accounts[one].username,
                    "url": self._account_url(self._accounts[one]),
                    "acct": self._accounts[one].acct,
                }
                for one in status.mentions
            ],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _content(self, status: _Status) -> str:
        """The status's HTML as Mastodon's TextFormatter writes it: paragraphs, line breaks,
        links with their scheme hidden, mentions of known accounts as h-cards."""
        text = status.text
        pieces: list[str] = []
        position = 0
        for entity in _entities(text):
            pieces.append(html.escape(text[position : entity.start], quote=False))
            source = text[entity.start : entity.end]
            if entity.url is not None:
                scheme, _, rest = entity.url.partition("://")
                shown, hidden = rest[:30], rest[30:]
                pieces.append(
                    f'<a href="{html.escape(entity.url)}" target="_blank" '
                    'rel="nofollow noopener" translate="no">'
                    f'<span class="invisible">{html.escape(scheme)}://</span>'
                    f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
                    f'<span class="invisible">{html.escape(hidden)}</span></a>'
                )
            else:
                named = self._account_named(entity.screen_name or "")
                if named is None or named.id not in status.mentions:
                    pieces.append(html.escape(source, quote=False))
                else:
                    pieces.append(
                        '<span class="h-card" translate="no">'
                        f'<a href="{html.escape(self._account_url(named))}" '
                        f'class="u-url mention">@<span>{html.escape(named.username)}</span>'
                        "</a></span>"
                    )
            position = entity.end
        pieces.append(html.escape(text[position:], quote=False))
        body = "".join(pieces).strip("\n")
        paragraphs = re.split(r"\n{2,}", body)
        return "".join(f"<p>{one.replace(chr(10), '<br />')}</p>" for one in paragraphs if one)

    def _media_json(self, media: _Media, *, processing: bool = False) -> JsonDict:
        extension = media.mime.partition("/")[2]
        ready = media.processing_left == 0 and not processing
        url = f"{self.url}/system/media_attachments/files/{media.id}/original.{extension}"
        return {
            "id": str(media.id),
            "type": media.kind,
            "url": url if ready else None,
            "preview_url": f"{self.url}/system/media_attachments/files/{media.id}/small.png",
            "remote_url": None,
            "text_url": None,
            "meta": {},
            "description": media.description,
            "blurhash": None,
        }

    def _notification_json(self, notification: _Notification, viewer: _Account) -> JsonDict:
        status = (
            None
            if notification.status_id is None
            else self._status_json(self._statuses[notification.status_id], viewer)
        )
        return {
            "id": str(notification.id),
            "type": notification.type,
            "group_key": f"ungrouped-{notification.id}",
            "created_at": _iso(notification.created_at),
            "account": self._account_json(self._accounts[notification.from_account_id]),
            "status": status,
        }

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
            return 400, {"error": f"missing field {error}"}
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}

    def _control_action(self, method: str, path: str, payload: JsonDict) -> Any:
        """``POST accounts`` {username} -> {id, token}; ``POST remotes`` {acct} -> {id};
        ``POST mentions`` {author, text, visibility?, in_reply_to?, to?}; ``POST statuses``
        {author, text, visibility?, in_reply_to?}; ``GET statuses/<acct>``; ``GET
        notifications/<acct>``; ``GET reblogs/<status id>``; ``DELETE statuses/<id>``;
        ``POST revoke`` {token}; ``POST follows`` {follower, followed}; ``POST faults``
        {path_prefix, status, times?, method?, body?}; ``POST slow`` {path_prefix, seconds,
        times?}; ``POST lose_answer`` {path_prefix, method?, times?}; ``POST clear_faults``;
        ``POST rate_limits`` {family, limit, seconds}; ``POST instance`` {max_characters?,
        max_media_attachments?, image_size_limit?, video_size_limit?}; ``GET calls``."""
        action = (method, path)
        if action == ("POST", "accounts"):
            account_id, token = self.add_account(
                payload["username"], display_name=payload.get("display_name")
            )
            return {"id": account_id, "token": token}
        if action == ("POST", "remotes"):
            return {
                "id": self.add_remote(payload["acct"], display_name=payload.get("display_name"))
            }
        if action == ("POST", "mentions"):
            return self.post_mention(
                payload["author"],
                payload["text"],
                visibility=payload.get("visibility", "public"),
                in_reply_to=payload.get("in_reply_to"),
                to=payload.get("to"),
            )
        if action == ("POST", "statuses"):
            return self.post_status(
                payload["author"],
                payload["text"],
                visibility=payload.get("visibility", "public"),
                in_reply_to=payload.get("in_reply_to"),
            )
        if method == "GET" and path.startswith("statuses/"):
            return self.statuses_by(path.removeprefix("statuses/"))
        if method == "GET" and path.startswith("notifications/"):
            return self.notifications_of(path.removeprefix("notifications/"))
        if method == "GET" and path.startswith("reblogs/"):
            return self.reblogs_of(path.removeprefix("reblogs/"))
        if method == "DELETE" and path.startswith("statuses/"):
            self.delete_status(path.removeprefix("statuses/"))
            return {"ok": True}
        if action == ("POST", "revoke"):
            self.revoke(payload["token"])
            return {"ok": True}
        if action == ("POST", "follows"):
            self.follow(payload["follower"], payload["followed"])
            return {"ok": True}
        if action == ("POST", "faults"):
            self.fail(
                payload["path_prefix"],
                int(payload["status"]),
                times=int(payload.get("times", 1)),
                method=payload.get("method"),
                body=payload.get("body"),
            )
            return {"ok": True}
        if action == ("POST", "slow"):
            self.slow(
                payload["path_prefix"],
                float(payload["seconds"]),
                times=int(payload.get("times", 1)),
            )
            return {"ok": True}
        if action == ("POST", "lose_answer"):
            self.lose_answer(
                payload["path_prefix"],
                method=payload.get("method", "POST"),
                times=int(payload.get("times", 1)),
            )
            return {"ok": True}
        if action == ("POST", "clear_faults"):
            self.clear_faults()
            return {"ok": True}
        if action == ("POST", "rate_limits"):
            self.set_rate_limit(payload["family"], int(payload["limit"]), float(payload["seconds"]))
            return {"ok": True}
        if action == ("POST", "instance"):
            with self._lock:
                for name in (
                    "max_characters",
                    "max_media_attachments",
                    "image_size_limit",
                    "video_size_limit",
                ):
                    if name in payload:
                        setattr(self, name, int(payload[name]))
            return {"ok": True}
        if action == ("GET", "calls"):
            return [
                {"method": call.method, "path": call.path, "query": call.query}
                for call in self.calls
            ]
        raise _UnknownControl(path)


_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", r"/api/v1/instance/?", "_instance_v1"),
    ("GET", r"/api/v2/instance/?", "_instance_v2"),
    ("GET", r"/api/v1/accounts/verify_credentials/?", "_verify_credentials"),
    ("GET", r"/api/v1/accounts/lookup/?", "_lookup_account"),
    ("GET", rf"/api/v1/accounts/{_PATH_ID}/statuses/?", "_account_statuses"),
    ("GET", r"/api/v1/notifications/?", "_list_notifications"),
    ("POST", r"/api/v1/statuses/?", "_create_status"),
    ("GET", rf"/api/v1/statuses/{_PATH_ID}/?", "_get_status"),
    ("DELETE", rf"/api/v1/statuses/{_PATH_ID}/?", "_delete_status"),
    ("GET", rf"/api/v1/statuses/{_PATH_ID}/context/?", "_context"),
    ("POST", rf"/api/v1/statuses/{_PATH_ID}/reblog/?", "_reblog"),
    ("POST", rf"/api/v1/statuses/{_PATH_ID}/unreblog/?", "_unreblog"),
    ("POST", r"/api/v2/media/?", "_upload_media"),
    ("GET", rf"/api/v1/media/{_PATH_ID}/?", "_get_media"),
)
"""(method, path pattern, FakeMastodon method): the API the fake serves."""


def _bearer(headers: Headers) -> str | None:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _form(call: Call) -> dict[str, list[str]]:
    """A form or JSON body as name -> values (Rails reads both)."""
    content_type = (call.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if content_type == "application/json":
        body = json.loads(call.body or b"{}")
        if not isinstance(body, dict):
            raise ApiError(400, "Body must be a JSON object")
        return {
            name: [str(one) for one in value] if isinstance(value, list) else [str(value)]
            for name, value in body.items()
            if value is not None
        }
    if content_type.startswith("multipart/"):
        return {name: [data.decode()] for name, (data, _) in _multipart(call).items()}
    found: dict[str, list[str]] = {}
    for name, value in parse_qsl(call.body.decode(), keep_blank_values=True):
        found.setdefault(name, []).append(value)
    return found


def _multipart(call: Call) -> dict[str, tuple[bytes, str]]:
    """A multipart/form-data body as name -> (bytes, content type)."""
    content_type = call.headers.get("Content-Type") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(422, "Validation failed: File can't be blank")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + call.body
    )
    parts: dict[str, tuple[bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            data = part.get_payload(decode=True)
            parts[name] = (
                data if isinstance(data, bytes) else b"",
                part.get_content_type(),
            )
    return parts


# --- HTTP plumbing -------------------------------------------------------------------------------


class _Handler(LoopbackHandler):
    server_version = "Mastodon"

    @property
    def fake(self) -> FakeMastodon:
        return cast(FakeMastodon, self.service)

    def version_string(self) -> str:
        return self.server_version

    def _dispatch(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        # Read the body before answering anything, or leftovers would corrupt the next
        # request on this keep-alive connection.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not is_loopback_host(self.headers.get("Host") or ""):
            self.close_connection = True
            self._send_json(403, {"error": "Only this computer may use the sandbox's Mastodon."})
            return
        if parts.path.startswith("/_control/"):
            self._send_json(*fake._control(self.command, parts.path, body))
            return
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        call = Call(self.command, parts.path, query, Headers(self.headers.items()), body)
        delay, refusal, lose, rate_headers = fake._admit(call)
        try:
            if refusal is not None:
                raise refusal
            answer = fake._handle_api(call)
        except ApiError as error:
            answer = _Answer(error.status, error.body, error.headers)
        except Exception as error:
            # A bug in the fake: answer as Mastodon's 500 does instead of dropping the
            # connection, and log it so the failing test shows why.
            self.log_error("fake Mastodon failed on %s %s: %r", self.command, self.path, error)
            answer = _Answer(500, {"error": repr(error)})
        if delay:
            # Mastodon has carried the request out; only its answer is late.
            fake._stopping.wait(delay)
        if lose:
            self._drop()
            return
        self._send_json(answer.status, answer.payload, {**rate_headers, **answer.headers})


# --- standalone --------------------------------------------------------------------------------


FakeMastodon.handler = _Handler  # defined after the fake it answers for


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake in the foreground with one brand account, printing its URL and token."""
    parser = argparse.ArgumentParser(description="Serve a fake Mastodon instance on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083, help="0 picks a free port")
    parser.add_argument("--user", default="brand", help="username of the brand account")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    options = parser.parse_args(argv)

    fake = FakeMastodon(host=options.host, port=options.port, log_requests=not options.quiet)
    fake.start()
    try:
        account_id, token = fake.add_account(options.user)
        example = json.dumps({"author": "alice@example.org", "text": "hello!"})
        print(
            f"Fake Mastodon listening on {fake.url}\n"
            f"  brand account:  @{options.user} (id {account_id})\n"
            f"  access token:   {token}\n"
            f"Inject a mention:\n"
            f"  curl -s -X POST {fake.url}/_control/mentions "
            f"-H 'Content-Type: application/json' -d '{example}'\n"
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

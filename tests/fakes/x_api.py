"""A fake X API v2 server speaking real HTTP on loopback.

Tests (and a person running Roost locally) point tweepy at this server instead of X: mount a
``requests`` adapter on ``tweepy.Client.session`` that rewrites ``https://api.twitter.com`` to
``FakeX.url``. The fake serves the endpoints Roost uses, in the shapes of X's OpenAPI
description (``shared/x-api/openapi.json``, see ``OPENAPI_PATH``):

- ``GET /2/users/me``, ``GET /2/users/{id}``, ``GET /2/users/{id}/mentions``
- ``GET /2/tweets/search/stream`` (filtered stream, chunked, one connection per app)
- ``GET`` and ``POST /2/tweets/search/stream/rules``

plus ``/_control/...`` endpoints to drive it from outside the process (see ``FakeX._control``).

Naming: the OpenAPI snapshot (2.167) renamed its *schemas* from "tweet" to "post"
(``note_post``, ``referenced_posts``, ``includes.posts``), yet its request parameters still say
``tweet.fields=note_tweet,referenced_tweets`` and X's field documentation and tweepy use the
tweet names. The fake serves the tweet names, which is what the live API sends. Problem ``type``
URLs use ``https://api.x.com/2/problems/...``: that is what the snapshot declares and what X
answers since its host move (older clients saw ``https://api.twitter.com/2/problems/...``), so
clients should match on the ``/2/problems/<name>`` suffix.

Run standalone with ``python -m tests.fakes.x_api [--port 8081] [--user brand]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import copy
import html
import json
import math
import re
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

JsonDict = dict[str, Any]

# In CI the repository is cloned into some folder with `shared/` beside it.
OPENAPI_PATH = Path(__file__).resolve().parents[3] / "shared" / "x-api" / "openapi.json"

PROBLEMS_BASE = "https://api.x.com/2/problems/"

# Snowflake-like ids: 19 digits, strictly increasing. The step is one millisecond of a real
# snowflake (the low 22 bits hold worker and sequence numbers).
_SNOWFLAKE_STEP = 1 << 22
_FIRST_USER_ID = 1_500_000_000_000_000_000
_FIRST_TWEET_ID = 1_860_000_000_000_000_000
_FIRST_MEDIA_ID = 1_865_000_000_000_000_000
_FIRST_RULE_ID = 1_870_000_000_000_000_000

NOTE_TWEET_THRESHOLD = 280
MENTIONS_TIMELINE_DEPTH = 800  # X serves only the 800 most recent mentions.
RATE_LIMIT = 450
RATE_WINDOW_SECONDS = 15 * 60
# How often an idle stream checks whether its client went away, so a reconnect is not refused
# as a second connection for long.
_PEER_CHECK_SECONDS = 0.1

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
# An @mention: not glued to a preceding word or @, and not longer than a username can be.
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@])")
_SNOWFLAKE = re.compile(r"[0-9]{1,19}")

# Field and expansion names X accepts (from the OpenAPI request parameters). Names outside these
# lists get a 400, as from X; names inside but not modelled by the fake are simply absent.
TWEET_FIELDS = frozenset(
    "article attachments author_id card_uri community_id context_annotations conversation_id "
    "created_at display_text_range edit_controls edit_history_tweet_ids entities geo id "
    "in_reply_to_user_id lang matched_media_notes media_metadata non_public_metrics "
    "note_request_suggestions note_tweet organic_metrics paid_partnership possibly_sensitive "
    "promoted_metrics public_metrics referenced_tweets reply_settings scopes source "
    "suggested_source_links suggested_source_links_with_counts text withheld".split()
)
USER_FIELDS = frozenset(
    "affiliation confirmed_email connection_status created_at description entities id "
    "is_identity_verified location most_recent_tweet_id name parody pinned_tweet_id "
    "profile_banner_url profile_image_url protected public_metrics receives_your_dm "
    "subscription subscription_type url username verified verified_followers_count "
    "verified_type withheld".split()
)
MEDIA_FIELDS = frozenset(
    "alt_text duration_ms height media_key non_public_metrics organic_metrics "
    "preview_image_url promoted_metrics public_metrics type url variants width".split()
)
EXPANSIONS = frozenset(
    "article.cover_media article.media_entities attachments.media_keys "
    "attachments.media_source_tweet attachments.poll_ids author_id edit_history_tweet_ids "
    "entities.mentions.username geo.place_id in_reply_to_user_id "
    "entities.note.mentions.username referenced_tweets.id "
    "referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id".split()
)
_DEFAULT_TWEET_FIELDS = frozenset({"id", "text", "edit_history_tweet_ids"})
_DEFAULT_USER_FIELDS = frozenset({"id", "name", "username"})
_DEFAULT_MEDIA_FIELDS = frozenset({"media_key", "type"})
_REFERENCE_EXPANSIONS = frozenset(name for name in EXPANSIONS if name.startswith("referenced_"))
_MEDIA_KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}


# --- small helpers ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    """X's timestamp format: UTC, milliseconds, trailing Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _escape(text: str) -> str:
    """X serves `&`, `<` and `>` in post text as HTML entities (quotes stay as they are)."""
    return html.escape(text, quote=False)


def _problem(status: int, detail: str | None = None) -> JsonDict:
    """X's generic problem body (``about:blank``) for an HTTP status."""
    phrase = HTTPStatus(status).phrase
    return {"title": phrase, "type": "about:blank", "status": status, "detail": detail or phrase}


def _not_found(resource_type: str, parameter: str, resource_id: str) -> JsonDict:
    """The partial-error entry X adds when an expanded or requested object does not exist."""
    return {
        "value": resource_id,
        "detail": f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": resource_id,
        "type": PROBLEMS_BASE + "resource-not-found",
    }


def _encode_page_token(upper_bound: int) -> str:
    # Opaque to clients, like X's base32hex tokens; it holds the exclusive upper id bound.
    return base64.b32hexencode(str(upper_bound).encode()).decode().rstrip("=").lower()


def _decode_page_token(token: str) -> int | None:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        decoded = base64.b32hexdecode(padded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if _SNOWFLAKE.fullmatch(decoded) else None


def _mention_entities(text: str, user_ids: Mapping[str, str]) -> list[JsonDict]:
    """``entities.mentions`` of ``text``: codepoint offsets, exclusive end, id if the user exists.

    Offsets refer to the unescaped text, as X's do (clients unescape before slicing).
    """
    entities = []
    for match in _MENTION.finditer(text):
        entity: JsonDict = {"start": match.start(), "end": match.end(), "username": match[1]}
        user_id = user_ids.get(match[1].lower())
        if user_id is not None:
            entity["id"] = user_id
        entities.append(entity)
    return entities


class ApiError(Exception):
    """An answer other than success, raised anywhere while handling a request."""

    def __init__(self, status: int, body: JsonDict, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _UnknownControl(Exception):
    """No control endpoint has that method and path."""


def _invalid_request(parameter: str, value: str, message: str) -> ApiError:
    """X's 400 for a bad query parameter."""
    return ApiError(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": PROBLEMS_BASE + "invalid-request",
        },
    )


def _unsupported_auth(used: str, supported: str) -> ApiError:
    return ApiError(
        403,
        {
            "title": "Unsupported Authentication",
            "detail": f"Authenticating with {used} is forbidden for this endpoint.  "
            f"Supported authentication types are [{supported}].",
            "type": PROBLEMS_BASE + "unsupported-authentication",
            "status": 403,
        },
    )


# --- records ---------------------------------------------------------------------------------


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
    query: dict[str, str]
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class _StoredTweet:
    full: JsonDict  # every field, as X serves it (text HTML-escaped)
    mentioned: frozenset[str]  # lower-cased usernames mentioned in the full text
    search_text: str  # lower-cased unescaped full text, for rule terms
    author_username: str  # lower-cased, as at posting time
    reply_to_username: str | None


@dataclass(frozen=True, slots=True)
class _Selection:
    """Which fields and expansions a request asked for."""

    tweet_fields: frozenset[str]
    user_fields: frozenset[str]
    media_fields: frozenset[str]
    expansions: frozenset[str]

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> _Selection:
        def names(parameter: str, allowed: frozenset[str]) -> frozenset[str]:
            requested = frozenset(filter(None, query.get(parameter, "").split(",")))
            unknown = sorted(requested - allowed)
            if unknown:
                raise _invalid_request(
                    parameter,
                    unknown[0],
                    f"The `{parameter}` query parameter value [{unknown[0]}] is not one of "
                    f"[{','.join(sorted(allowed))}]",
                )
            return requested

        return cls(
            tweet_fields=names("tweet.fields", TWEET_FIELDS),
            user_fields=names("user.fields", USER_FIELDS),
            media_fields=names("media.fields", MEDIA_FIELDS),
            expansions=names("expansions", EXPANSIONS),
        )


@dataclass(slots=True)
class _Fault:
    path_prefix: str
    status: int
    times: int
    retry_after: int | None
    reset_in: int | None
    method: str | None
    body: JsonDict | None


@dataclass(slots=True)
class _Delay:
    path_prefix: str
    seconds: float
    times: int


@dataclass(frozen=True, slots=True)
class _Principal:
    """Who a request authenticated as: the app (bearer) or a user (OAuth 2.0 or 1.0a)."""

    user_id: str | None  # None for the app

    @property
    def is_app(self) -> bool:
        return self.user_id is None


# --- filtered-stream rules -------------------------------------------------------------------

_Predicate = Callable[[_StoredTweet], bool]
_RULE_TOKEN = re.compile(r'"[^"]*"|\(|\)|-(?=\S)|[^\s()"]+')


class _RuleParser:
    """Compiles a rule value into a predicate.

    Grammar (a subset of X's): terms joined by spaces (AND) or ``OR`` (AND binds tighter),
    parentheses, ``-`` negation. Terms: ``@name`` (mentions), ``"a phrase"`` and bare words
    (case-insensitive substring of the text), ``from:name``, ``to:name``, ``is:reply``,
    ``is:retweet``, ``is:quote``, ``has:media``, ``has:mentions``, ``lang:xx``.
    """

    def __init__(self, value: str) -> None:
        self._tokens = _RULE_TOKEN.findall(value)
        self._position = 0

    def compile(self) -> _Predicate:
        if not self._tokens:
            raise ValueError("a rule needs at least one term")
        predicate = self._any_of()
        if self._position != len(self._tokens):
            raise ValueError(f"unexpected {self._tokens[self._position]!r}")
        return predicate

    def _peek(self) -> str | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("the rule ends too early")
        self._position += 1
        return token

    def _any_of(self) -> _Predicate:
        alternatives = [self._all_of()]
        while self._peek() == "OR":
            self._take()
            alternatives.append(self._all_of())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda tweet: any(alternative(tweet) for alternative in alternatives)

    def _all_of(self) -> _Predicate:
        parts: list[_Predicate] = []
        while self._peek() not in (None, ")", "OR"):
            parts.append(self._unary())
        if not parts:
            raise ValueError("expected a term")
        if len(parts) == 1:
            return parts[0]
        return lambda tweet: all(part(tweet) for part in parts)

    def _unary(self) -> _Predicate:
        token = self._take()
        if token == "-":
            inner = self._unary()
            return lambda tweet: not inner(tweet)
        if token == "(":
            inner = self._any_of()
            if self._take() != ")":
                raise ValueError("unbalanced parentheses")
            return inner
        if token == ")":
            raise ValueError("unbalanced parentheses")
        return self._term(token)

    @staticmethod
    def _term(token: str) -> _Predicate:
        lowered = token.lower()
        if lowered.startswith("@") and _USERNAME.fullmatch(lowered[1:]):
            username = lowered[1:]
            return lambda tweet: username in tweet.mentioned
        if lowered.startswith('"'):
            phrase = lowered[1:-1]
            if not phrase:
                raise ValueError("empty quoted phrase")
            return lambda tweet: phrase in tweet.search_text
        operator, colon, argument = lowered.partition(":")
        if colon and argument:
            match operator, argument:
                case "from", _:
                    return lambda tweet: tweet.author_username == argument
                case "to", _:
                    return lambda tweet: tweet.reply_to_username == argument
                case "is", "reply":
                    return lambda tweet: "in_reply_to_user_id" in tweet.full
                case "is", "retweet" | "quote":
                    return lambda tweet: False  # the fake has neither reposts nor quotes
                case "has", "media":
                    return lambda tweet: "attachments" in tweet.full
                case "has", "mentions":
                    return lambda tweet: bool(tweet.mentioned)
                case "lang", _:
                    return lambda tweet: tweet.full.get("lang") == argument
                case (("is" | "has"), _):
                    raise ValueError(f"unsupported operator {token!r}")
        return lambda tweet: lowered in tweet.search_text


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    value: str
    tag: str | None
    matches: _Predicate

    def as_json(self) -> JsonDict:
        rule: JsonDict = {"id": self.id, "value": self.value}
        if self.tag is not None:
            rule["tag"] = self.tag
        return rule


# --- filtered-stream connections -------------------------------------------------------------


class _StreamEnded(Exception):
    """The stream must end now: the fake stops, or a drop was asked for."""


class _StreamConnection:
    """Lines waiting to be written to one open filtered-stream connection."""

    def __init__(self, selection: _Selection) -> None:
        self.selection = selection
        self._lines: deque[bytes] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._ended = False
        self._lines_before_drop: int | None = None

    def push(self, line: bytes) -> None:
        with self._ready:
            self._lines.append(line)
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify()

    def drop_after(self, lines: int) -> None:
        with self._ready:
            self._lines_before_drop = lines
            self._ready.notify()

    def _ending(self) -> bool:
        return self._ended or self._lines_before_drop == 0

    def next_line(self, timeout: float) -> bytes | None:
        """The next line to send, or None after `timeout`; raises _StreamEnded to stop."""
        with self._ready:
            if not self._lines and not self._ending():
                self._ready.wait(timeout)
            if self._ending():
                raise _StreamEnded
            if not self._lines:
                return None
            if self._lines_before_drop is not None:
                self._lines_before_drop -= 1
            return self._lines.popleft()


# --- the fake --------------------------------------------------------------------------------


class FakeX:
    """A fake X API v2 server on loopback; all state lives under one lock."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_seconds: float = 1.0,
        timeline_depth: int = MENTIONS_TIMELINE_DEPTH,
        log_requests: bool = False,
    ) -> None:
        """Configure the server; nothing listens until `start()`.

        `timeline_depth` is how many of a user's most recent mentions the mentions timeline
        reaches (800 on X). `log_requests` prints one line per request to stderr.
        """
        self._address = (host, port)
        self.keepalive_seconds = keepalive_seconds
        self.timeline_depth = timeline_depth
        self.log_requests = log_requests

        self._lock = threading.Lock()
        self._connections_changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()

        self.app_bearer = "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(40)
        self._app_tokens = {self.app_bearer}
        self._consumer_key = secrets.token_urlsafe(18)
        self._consumer_secret = secrets.token_urlsafe(36)
        self._oauth2_users: dict[str, str] = {}  # OAuth 2.0 access token -> user id
        self._oauth1_users: dict[str, str] = {}  # OAuth 1.0a access token -> user id

        self._users: dict[str, JsonDict] = {}  # user id -> full user object
        self._user_ids: dict[str, str] = {}  # lower-cased username -> user id
        self._tweets: dict[int, _StoredTweet] = {}
        # Mentions by lower-cased username, ascending tweet ids: bisect serves since_id,
        # until_id and pagination without scanning.
        self._mentions: dict[str, list[int]] = {}
        self._media: dict[str, JsonDict] = {}
        self._rules: dict[str, _Rule] = {}
        self._stream: _StreamConnection | None = None

        self._next_user_id = _FIRST_USER_ID
        self._next_tweet_id = _FIRST_TWEET_ID
        self._next_media_id = _FIRST_MEDIA_ID
        self._next_rule_id = _FIRST_RULE_ID

        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._rate_windows: dict[str, tuple[int, int]] = {}  # path -> (reset epoch, count)

    # --- lifecycle ---

    def start(self) -> FakeX:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeX is already started")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-x",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end open streams, close client connections, release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            stream, sockets = self._stream, list(self._sockets)
        if stream is not None:
            stream.end()
        for sock in sockets:
            # Idle keep-alive connections would otherwise keep answering after stop().
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        with self._connections_changed:
            while self._sockets and time.monotonic() < deadline:
                self._connections_changed.wait(deadline - time.monotonic())
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeX:
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
            raise RuntimeError("FakeX is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- users and credentials ---

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        followers: int = 0,
        verified: bool = False,
        protected: bool = False,
    ) -> JsonDict:
        """Create a user and return its full user object (id as a string)."""
        if not _USERNAME.fullmatch(username):
            raise ValueError(f"invalid X username {username!r}")
        with self._lock:
            if username.lower() in self._user_ids:
                raise ValueError(f"username {username!r} is taken")
            user_id = str(self._next_user_id)
            self._next_user_id += _SNOWFLAKE_STEP
            user = {
                "id": user_id,
                "name": name if name is not None else username,
                "username": username,
                "created_at": _iso(datetime.now(UTC)),
                "description": "",
                "profile_image_url": (
                    f"https://pbs.twimg.com/profile_images/{user_id}/{username}_normal.jpg"
                ),
                "protected": protected,
                "verified": verified,
                "public_metrics": {
                    "followers_count": followers,
                    "following_count": 0,
                    "tweet_count": 0,
                    "listed_count": 0,
                    "like_count": 0,
                    "media_count": 0,
                },
            }
            self._users[user_id] = user
            self._user_ids[username.lower()] = user_id
            return copy.deepcopy(user)

    def issue_token(self, user_id: str) -> str:
        """Issue an OAuth 2.0 user access token (sent as ``Authorization: Bearer <token>``)."""
        with self._lock:
            self._require_user(user_id)
            token = secrets.token_urlsafe(48)
            self._oauth2_users[token] = user_id
            return token

    def issue_oauth1(self, user_id: str) -> tuple[str, str, str, str]:
        """Issue OAuth 1.0a credentials for a user.

        Returns (consumer_key, consumer_secret, access_token, access_token_secret). Requests
        authenticate by the ``oauth_token`` of their ``Authorization: OAuth`` header; signatures
        are not checked.
        """
        with self._lock:
            self._require_user(user_id)
            access_token = f"{user_id}-{secrets.token_urlsafe(30)}"
            self._oauth1_users[access_token] = user_id
            return (
                self._consumer_key,
                self._consumer_secret,
                access_token,
                secrets.token_urlsafe(33),
            )

    def revoke(self, token: str) -> None:
        """Make a bearer, OAuth 2.0 or OAuth 1.0a access token answer 401 from now on."""
        with self._lock:
            known = (
                self._oauth2_users.pop(token, None) is not None
                or self._oauth1_users.pop(token, None) is not None
                or token in self._app_tokens
            )
            self._app_tokens.discard(token)
        if not known:
            raise ValueError("unknown token")

    def delete_user(self, user_id: str) -> None:
        """Delete a user: their tokens stop working and they vanish from includes.

        Their tweets remain; where one is expanded, an ``errors`` entry names the missing user.
        """
        with self._lock:
            user = self._require_user(user_id)
            del self._users[user_id]
            del self._user_ids[user["username"].lower()]

    def _require_user(self, user_id: str) -> JsonDict:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"no user with id {user_id!r}")
        return user

    # --- posts ---

    def post_mention(
        self,
        to: str | Sequence[str],
        *,
        author: str,
        text: str | None = None,
        note_text: str | None = None,
        reply_to: str | None = None,
        media: Sequence[str] = (),
        lang: str = "en",
        created_at: datetime | str | None = None,
    ) -> JsonDict:
        """Post a tweet mentioning `to` (a username or several) by the existing user `author`.

        The text defaults to ``"@to hello"``; a missing ``@to`` is prepended. `note_text` makes
        a long post: `text` is then its first 280 characters and ``note_tweet`` holds it all.
        `reply_to` (a tweet id) makes a reply in that tweet's conversation. `media` lists kinds
        (``photo``, ``video``, ``animated_gif``) to attach. `created_at` (a datetime or an ISO
        8601 string) defaults to now. Returns the tweet with every field, as X would serve it,
        and pushes it to an open filtered stream if rules match.
        """
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients or not all(_USERNAME.fullmatch(name) for name in recipients):
            raise ValueError(f"invalid recipients {to!r}")
        if text is not None and note_text is not None:
            raise ValueError("give text or note_text, not both")
        unknown_media = set(media) - _MEDIA_KEY_PREFIX.keys()
        if unknown_media:
            raise ValueError(f"unknown media kinds {sorted(unknown_media)}")
        body = note_text if note_text is not None else text
        if body is None:
            body = " ".join(f"@{name}" for name in recipients) + " hello"
        mentioned_in_body = {match[1].lower() for match in _MENTION.finditer(body)}
        missing = [name for name in recipients if name.lower() not in mentioned_in_body]
        if missing:
            body = " ".join(f"@{name}" for name in missing) + " " + body
        if isinstance(created_at, datetime):
            created_at = _iso(created_at)

        with self._lock:
            author_id = self._user_ids.get(author.lower())
            if author_id is None:
                raise ValueError(f"no user named {author!r}")
            parent = None
            if reply_to is not None:
                parent = self._tweets.get(int(reply_to)) if reply_to.isdigit() else None
                if parent is None:
                    raise ValueError(f"no tweet with id {reply_to!r}")
            tweet_id = str(self._next_tweet_id)
            self._next_tweet_id += _SNOWFLAKE_STEP

            short_text = body[:NOTE_TWEET_THRESHOLD] if note_text is not None else body
            full: JsonDict = {
                "id": tweet_id,
                "text": _escape(short_text),
                "edit_history_tweet_ids": [tweet_id],
                "author_id": author_id,
                "conversation_id": parent.full["conversation_id"] if parent else tweet_id,
                "created_at": created_at or _iso(datetime.now(UTC)),
                "lang": lang,
            }
            if parent is not None:
                full["in_reply_to_user_id"] = parent.full["author_id"]
                full["referenced_tweets"] = [{"type": "replied_to", "id": parent.full["id"]}]
            if media:
                full["attachments"] = {"media_keys": [self._add_media(kind) for kind in media]}
            full["entities"] = {"mentions": _mention_entities(short_text, self._user_ids)}
            if note_text is not None:
                full["note_tweet"] = {
                    "text": _escape(body),
                    "entities": {"mentions": _mention_entities(body, self._user_ids)},
                }
            full["public_metrics"] = {
                "retweet_count": 0,
                "reply_count": 0,
                "like_count": 0,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 0,
            }
            reply_to_username = None
            if parent is not None:
                reply_to_username = parent.author_username
            stored = _StoredTweet(
                full=full,
                mentioned=frozenset(match[1].lower() for match in _MENTION.finditer(body)),
                search_text=body.lower(),
                author_username=author.lower(),
                reply_to_username=reply_to_username,
            )
            self._tweets[int(tweet_id)] = stored
            for username in stored.mentioned:
                # Ids only grow, so appending keeps every list sorted.
                self._mentions.setdefault(username, []).append(int(tweet_id))
            self._push_to_stream(stored)
            return copy.deepcopy(full)

    def delete_tweet(self, tweet_id: str) -> None:
        """Delete a tweet: it leaves every timeline, and expansions referencing it report it
        missing in ``errors``."""
        with self._lock:
            stored = self._tweets.pop(int(tweet_id), None)
            if stored is None:
                raise ValueError(f"no tweet with id {tweet_id!r}")
            for username in stored.mentioned:
                ids = self._mentions[username]
                del ids[bisect.bisect_left(ids, int(tweet_id))]

    def mentions_of(self, username: str) -> list[JsonDict]:
        """Every stored tweet mentioning `username`, newest first, with every field."""
        with self._lock:
            ids = self._mentions.get(username.lower(), [])
            return [copy.deepcopy(self._tweets[tweet_id].full) for tweet_id in reversed(ids)]

    def _add_media(self, kind: str) -> str:
        media_id = self._next_media_id
        self._next_media_id += _SNOWFLAKE_STEP
        key = f"{_MEDIA_KEY_PREFIX[kind]}_{media_id}"
        item: JsonDict = {"media_key": key, "type": kind}
        if kind == "photo":
            item.update(url=f"https://pbs.twimg.com/media/{media_id}.jpg", width=1200, height=800)
        else:
            item.update(
                preview_image_url=f"https://pbs.twimg.com/tweet_video_thumb/{media_id}.jpg",
                width=1280,
                height=720,
            )
            if kind == "video":
                item["duration_ms"] = 15_000
            item["variants"] = [
                {
                    "bit_rate": 2_176_000,
                    "content_type": "video/mp4",
                    "url": f"https://video.twimg.com/ext_tw_video/{media_id}/vid/1280x720.mp4",
                }
            ]
        self._media[key] = item
        return key

    # --- faults and inspection ---

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        reset_in: int | None = None,
        method: str | None = None,
        body: JsonDict | None = None,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`.

        The body is X's problem format for that status unless `body` is given. A 429 carries
        ``x-rate-limit-remaining: 0`` and ``x-rate-limit-reset`` = now + `reset_in` (default
        1 s); `retry_after` adds a ``Retry-After`` header. `method` limits it to one method.
        """
        with self._lock:
            self._faults.append(
                _Fault(path_prefix, status, times, retry_after, reset_in, method, body)
            )

    def slow(self, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Delay the answers to the next `times` requests whose path starts with `path_prefix`."""
        with self._lock:
            self._delays.append(_Delay(path_prefix, seconds, times))

    def drop_streams(self, after_lines: int = 0) -> None:
        """Cut open stream connections, as a network drop would, after `after_lines` more
        tweet lines (keep-alives do not count). The chunked body never gets its end."""
        with self._lock:
            if self._stream is not None:
                self._stream.drop_after(after_lines)

    @property
    def open_streams(self) -> int:
        """How many filtered-stream connections are open (0 or 1)."""
        with self._lock:
            return 0 if self._stream is None else 1

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

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._connections_changed:
            self._sockets.discard(sock)
            self._connections_changed.notify_all()

    def _admit(self, call: Call) -> tuple[float, ApiError | None, dict[str, str]]:
        """Record a call; return its delay, an injected fault if any, and rate-limit headers."""
        now = time.time()
        with self._lock:
            self._calls.append(call)
            delay = 0.0
            for pending in self._delays:
                if call.path.startswith(pending.path_prefix):
                    delay = pending.seconds
                    pending.times -= 1
                    break
            self._delays = [pending for pending in self._delays if pending.times > 0]

            reset, count = self._rate_windows.get(call.path, (0, 0))
            if now >= reset:
                reset, count = math.ceil(now + RATE_WINDOW_SECONDS), 0
            count += 1
            self._rate_windows[call.path] = (reset, count)
            # Reported, not enforced: use fail(path, 429) to play an exhausted limit.
            headers = {
                "x-rate-limit-limit": str(RATE_LIMIT),
                "x-rate-limit-remaining": str(max(RATE_LIMIT - count, 0)),
                "x-rate-limit-reset": str(reset),
            }

            fault = None
            for pending in self._faults:
                if call.path.startswith(pending.path_prefix) and (
                    pending.method is None or pending.method.upper() == call.method
                ):
                    fault = pending
                    pending.times -= 1
                    break
            self._faults = [pending for pending in self._faults if pending.times > 0]
        if fault is None:
            return delay, None, headers
        if fault.status == 429:
            headers["x-rate-limit-remaining"] = "0"
            reset_in = 1 if fault.reset_in is None else fault.reset_in
            headers["x-rate-limit-reset"] = str(math.ceil(now + reset_in))
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body if fault.body is not None else _problem(fault.status)
        return delay, ApiError(fault.status, body, headers), headers

    def _authenticate(self, authorization: str | None) -> _Principal:
        scheme, _, credentials = (authorization or "").partition(" ")
        with self._lock:
            if scheme == "Bearer":
                if credentials in self._app_tokens:
                    return _Principal(None)
                user_id = self._oauth2_users.get(credentials)
            elif scheme == "OAuth":
                match = re.search(r'oauth_token="([^"]*)"', credentials)
                user_id = self._oauth1_users.get(unquote(match[1])) if match else None
            else:
                user_id = None
            if user_id is None or user_id not in self._users:
                raise ApiError(401, _problem(401))
            return _Principal(user_id)

    @staticmethod
    def _require_user_context(principal: _Principal) -> str:
        if principal.user_id is None:
            raise _unsupported_auth(
                "OAuth 2.0 Application-Only", "OAuth 1.0a User Context, OAuth 2.0 User Context"
            )
        return principal.user_id

    @staticmethod
    def _require_app(principal: _Principal) -> None:
        if not principal.is_app:
            raise _unsupported_auth("OAuth 2.0 User Context", "OAuth 2.0 Application-Only")

    def _handle_api(
        self, method: str, path: str, query: Mapping[str, str], headers: Headers, body: bytes
    ) -> JsonDict:
        """Answer one API request (all but the stream); raises ApiError for failures."""
        principal = self._authenticate(headers.get("authorization"))
        if method == "GET" and path == "/2/users/me":
            user_id = self._require_user_context(principal)
            return self._get_user(user_id, query, parameter="id")
        match = re.fullmatch(r"/2/users/([^/]+)(/mentions)?", path)
        if method == "GET" and match:
            if not _SNOWFLAKE.fullmatch(match[1]):
                raise _invalid_request(
                    "id", match[1], f"The `id` query parameter value [{match[1]}] is not valid"
                )
            if match[2] is None:
                return self._get_user(match[1], query, parameter="id")
            if self._require_user_context(principal) != match[1]:
                raise ApiError(403, _problem(403))
            return self._get_mentions(match[1], query)
        if path == "/2/tweets/search/stream/rules" and method in ("GET", "POST"):
            self._require_app(principal)
            if method == "GET":
                return self._get_rules(query)
            return self._update_rules(query, body)
        raise ApiError(404, _problem(404))

    def _get_user(self, user_id: str, query: Mapping[str, str], *, parameter: str) -> JsonDict:
        selection = _Selection.parse(query)
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                return {"errors": [_not_found("user", parameter, user_id)]}
            return {"data": self._render_user(user, selection)}

    def _get_mentions(self, user_id: str, query: Mapping[str, str]) -> JsonDict:
        selection = _Selection.parse(query)
        raw_max = query.get("max_results", "10")
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            raise _invalid_request(
                "max_results",
                raw_max,
                f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100",
            )
        bounds = {}
        for name in ("since_id", "until_id"):
            if name in query:
                if not _SNOWFLAKE.fullmatch(query[name]):
                    raise _invalid_request(
                        name, query[name], f"The `{name}` query parameter value is invalid"
                    )
                bounds[name] = int(query[name])
        page_bound = None
        if "pagination_token" in query:
            page_bound = _decode_page_token(query["pagination_token"])
            if page_bound is None:
                raise _invalid_request(
                    "pagination_token",
                    query["pagination_token"],
                    "The `pagination_token` query parameter value is invalid",
                )

        with self._lock:
            user = self._users.get(user_id)
            if user is None:  # deleted since the request authenticated
                raise ApiError(401, _problem(401))
            ids = self._mentions.get(user["username"].lower(), [])
            low = max(len(ids) - self.timeline_depth, 0)
            if "since_id" in bounds:
                low = max(low, bisect.bisect_right(ids, bounds["since_id"]))
            high = len(ids)
            for upper in (bounds.get("until_id"), page_bound):
                if upper is not None:
                    high = min(high, bisect.bisect_left(ids, upper))
            start = max(low, high - int(raw_max))
            if start >= high:
                return {"meta": {"result_count": 0}}
            page = [self._tweets[tweet_id] for tweet_id in reversed(ids[start:high])]
            response = self._render_tweets(page, selection)
            meta: JsonDict = {
                "result_count": len(page),
                "newest_id": page[0].full["id"],
                "oldest_id": page[-1].full["id"],
            }
            if start > low:
                meta["next_token"] = _encode_page_token(ids[start])
            response["meta"] = meta
            return response

    # --- rendering (callers hold the lock) ---

    @staticmethod
    def _render_user(user: JsonDict, selection: _Selection) -> JsonDict:
        return {
            key: value
            for key, value in user.items()
            if key in _DEFAULT_USER_FIELDS or key in selection.user_fields
        }

    @staticmethod
    def _render_tweet(tweet: _StoredTweet, selection: _Selection) -> JsonDict:
        return {
            key: value
            for key, value in tweet.full.items()
            if key in _DEFAULT_TWEET_FIELDS or key in selection.tweet_fields
        }

    def _render_tweets(self, tweets: list[_StoredTweet], selection: _Selection) -> JsonDict:
        """``data`` for `tweets` plus the ``includes`` and ``errors`` their expansions call for."""
        expansions = selection.expansions
        users: dict[str, JsonDict] = {}
        referenced: dict[str, JsonDict] = {}
        media: dict[str, JsonDict] = {}
        errors: dict[tuple[str, str], JsonDict] = {}

        def include_user(user_id: str, parameter: str) -> None:
            if user_id in users:
                return
            user = self._users.get(user_id)
            if user is None:
                errors.setdefault((parameter, user_id), _not_found("user", parameter, user_id))
            else:
                users[user_id] = self._render_user(user, selection)

        def include_media(tweet: JsonDict) -> None:
            for key in tweet.get("attachments", {}).get("media_keys", []):
                media[key] = {
                    name: value
                    for name, value in self._media[key].items()
                    if name in _DEFAULT_MEDIA_FIELDS or name in selection.media_fields
                }

        for tweet in tweets:
            full = tweet.full
            if "author_id" in expansions:
                include_user(full["author_id"], "author_id")
            if "in_reply_to_user_id" in expansions and "in_reply_to_user_id" in full:
                include_user(full["in_reply_to_user_id"], "in_reply_to_user_id")
            if "entities.mentions.username" in expansions:
                for mention in full["entities"]["mentions"]:
                    if "id" in mention:
                        include_user(mention["id"], "entities.mentions.username")
            if "attachments.media_keys" in expansions:
                include_media(full)
            if not expansions & _REFERENCE_EXPANSIONS:
                continue
            for reference in full.get("referenced_tweets", []):
                target = self._tweets.get(int(reference["id"]))
                if target is None:
                    errors.setdefault(
                        ("referenced_tweets.id", reference["id"]),
                        _not_found("tweet", "referenced_tweets.id", reference["id"]),
                    )
                    continue
                if "referenced_tweets.id" in expansions:
                    referenced[reference["id"]] = self._render_tweet(target, selection)
                if "referenced_tweets.id.author_id" in expansions:
                    include_user(target.full["author_id"], "referenced_tweets.id.author_id")
                if "referenced_tweets.id.attachments.media_keys" in expansions:
                    include_media(target.full)

        response: JsonDict = {"data": [self._render_tweet(tweet, selection) for tweet in tweets]}
        includes = {
            name: list(objects.values())
            for name, objects in (("users", users), ("tweets", referenced), ("media", media))
            if objects
        }
        if includes:
            response["includes"] = includes
        if errors:
            response["errors"] = list(errors.values())
        return response

    # --- filtered stream ---

    def _open_stream(self, selection: _Selection) -> _StreamConnection:
        with self._lock:
            if self._stream is not None:
                raise ApiError(
                    429,
                    {
                        "title": "ConnectionException",
                        "detail": "This stream is currently at the maximum allowed connection "
                        "limit.",
                        "connection_issue": "TooManyConnections",
                        "type": PROBLEMS_BASE + "streaming-connection",
                    },
                )
            self._stream = _StreamConnection(selection)
            return self._stream

    def _close_stream(self, connection: _StreamConnection) -> None:
        with self._lock:
            if self._stream is connection:
                self._stream = None

    def _push_to_stream(self, tweet: _StoredTweet) -> None:
        """Send a new tweet to the open stream if rules match (caller holds the lock)."""
        if self._stream is None:
            return
        matching = [rule for rule in self._rules.values() if rule.matches(tweet)]
        if not matching:
            return
        rendered = self._render_tweets([tweet], self._stream.selection)
        line: JsonDict = {"data": rendered["data"][0]}
        for key in ("includes", "errors"):
            if key in rendered:
                line[key] = rendered[key]
        line["matching_rules"] = [
            {"id": rule.id, "tag": rule.tag} if rule.tag is not None else {"id": rule.id}
            for rule in matching
        ]
        self._stream.push(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())

    def _get_rules(self, query: Mapping[str, str]) -> JsonDict:
        wanted = set(filter(None, query.get("ids", "").split(",")))
        with self._lock:
            rules = [
                rule.as_json() for rule in self._rules.values() if not wanted or rule.id in wanted
            ]
        meta = {"sent": _iso(datetime.now(UTC)), "result_count": len(rules)}
        return {"data": rules, "meta": meta} if rules else {"meta": meta}

    def _update_rules(self, query: Mapping[str, str], body: bytes) -> JsonDict:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict) or len(request.keys() & {"add", "delete"}) != 1:
            raise ApiError(
                400,
                {
                    "errors": [{"message": "Exactly one of `add` or `delete` must be given."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": PROBLEMS_BASE + "invalid-request",
                },
            )
        dry_run = query.get("dry_run", "false").lower() == "true"
        if "add" in request:
            return self._add_rules(request["add"], dry_run=dry_run)
        return self._delete_rules(request["delete"], dry_run=dry_run)

    def _add_rules(self, additions: Any, *, dry_run: bool) -> JsonDict:
        if not isinstance(additions, list):
            raise ApiError(400, _problem(400, "`add` must be a list of rules"))
        created: list[_Rule] = []
        errors: list[JsonDict] = []
        invalid = 0
        with self._lock:
            taken = {rule.value: rule.id for rule in self._rules.values()}
            for addition in additions:
                value = addition.get("value") if isinstance(addition, dict) else None
                tag = addition.get("tag") if isinstance(addition, dict) else None
                try:
                    if not isinstance(value, str) or not (tag is None or isinstance(tag, str)):
                        raise ValueError("a rule needs a string `value` and an optional `tag`")
                    predicate = _RuleParser(value).compile()
                except ValueError as error:
                    invalid += 1
                    errors.append(
                        {
                            "value": str(value),
                            "details": [str(error)],
                            "title": "UnprocessableEntity",
                            "type": PROBLEMS_BASE + "invalid-rules",
                        }
                    )
                    continue
                if value in taken:
                    errors.append(
                        {
                            "value": value,
                            "id": taken[value],
                            "title": "DuplicateRule",
                            "type": PROBLEMS_BASE + "duplicate-rules",
                        }
                    )
                    continue
                rule = _Rule(str(self._next_rule_id), value, tag, predicate)
                self._next_rule_id += _SNOWFLAKE_STEP
                taken[value] = rule.id
                created.append(rule)
            if not dry_run:
                self._rules.update((rule.id, rule) for rule in created)
        response: JsonDict = {}
        if created:
            response["data"] = [rule.as_json() for rule in created]
        response["meta"] = {
            "sent": _iso(datetime.now(UTC)),
            "summary": {
                "created": len(created),
                "not_created": len(additions) - len(created),
                "valid": len(additions) - invalid,
                "invalid": invalid,
            },
        }
        if errors:
            response["errors"] = errors
        return response

    def _delete_rules(self, deletion: Any, *, dry_run: bool) -> JsonDict:
        if not isinstance(deletion, dict):
            raise ApiError(400, _problem(400, "`delete` must name `ids` or `values`"))
        ids = [str(rule_id) for rule_id in deletion.get("ids", [])]
        values = [str(value) for value in deletion.get("values", [])]
        with self._lock:
            by_value = {rule.value: rule.id for rule in self._rules.values()}
            targets = ids + [by_value.get(value, value) for value in values]
            found = [rule_id for rule_id in targets if rule_id in self._rules]
            if not dry_run:
                for rule_id in found:
                    self._rules.pop(rule_id, None)
        missing = len(targets) - len(found)
        response: JsonDict = {
            "meta": {
                "sent": _iso(datetime.now(UTC)),
                "summary": {"deleted": len(found), "not_deleted": missing},
            }
        }
        if missing:
            response["errors"] = [
                {
                    "errors": [{"parameters": {}, "message": "Rule does not exist"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": PROBLEMS_BASE + "invalid-request",
                }
            ]
        return response

    # --- control endpoints (for running standalone) ---

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Answer a ``/_control/...`` request: (status, JSON payload)."""
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return 200, self._control_action(method, path, payload)
        except _UnknownControl:
            return 404, {"error": f"no control endpoint {method} {path}"}
        except KeyError as error:
            return 400, {"error": f"missing field {error}"}
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}

    def _control_action(self, method: str, path: str, payload: JsonDict) -> Any:
        action = (method, path.removeprefix("/_control/"))
        if action == ("POST", "users"):
            user = self.add_user(
                payload["username"],
                name=payload.get("name"),
                followers=int(payload.get("followers", 0)),
                verified=bool(payload.get("verified", False)),
                protected=bool(payload.get("protected", False)),
            )
            consumer_key, consumer_secret, access_token, access_secret = self.issue_oauth1(
                user["id"]
            )
            return {
                "user": user,
                "access_token": self.issue_token(user["id"]),
                "oauth1": {
                    "consumer_key": consumer_key,
                    "consumer_secret": consumer_secret,
                    "access_token": access_token,
                    "access_token_secret": access_secret,
                },
            }
        if action == ("POST", "mentions"):
            with self._lock:
                author_exists = str(payload["author"]).lower() in self._user_ids
            if not author_exists:
                self.add_user(payload["author"])
            return self.post_mention(
                payload["to"],
                author=payload["author"],
                text=payload.get("text"),
                note_text=payload.get("note_text"),
                reply_to=None if payload.get("reply_to") is None else str(payload["reply_to"]),
                media=payload.get("media", ()),
                lang=payload.get("lang", "en"),
                created_at=payload.get("created_at"),
            )
        if action == ("POST", "faults"):
            self.fail(
                payload["path_prefix"],
                int(payload["status"]),
                times=int(payload.get("times", 1)),
                retry_after=payload.get("retry_after"),
                reset_in=payload.get("reset_in"),
                method=payload.get("method"),
                body=payload.get("body"),
            )
            return {"ok": True}
        if action == ("POST", "drop_streams"):
            self.drop_streams(int(payload.get("after_lines", 0)))
            return {"ok": True}
        if action == ("POST", "revoke"):
            self.revoke(payload["token"])
            return {"ok": True}
        if action == ("GET", "calls"):
            return [
                {
                    "method": call.method,
                    "path": call.path,
                    "query": call.query,
                    "headers": dict(call.headers),
                    "body": call.body.decode("utf-8", "replace"),
                }
                for call in self.calls
            ]
        if action == ("GET", "state"):
            with self._lock:
                return {
                    "users": list(self._users.values()),
                    "tweets": len(self._tweets),
                    "mentions": {name: len(ids) for name, ids in self._mentions.items()},
                    "rules": [rule.as_json() for rule in self._rules.values()],
                    "open_streams": 0 if self._stream is None else 1,
                    "calls": len(self._calls),
                }
        raise _UnknownControl(path)


# --- HTTP plumbing ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeX) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "FakeX/1.0"
    sys_version = ""
    # One buffered write per answer (flushed by handle_one_request) and no Nagle delay:
    # small header+body writes otherwise stall keep-alive clients on delayed ACKs.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeX:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.log_requests:
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
        fake = self.fake
        parts = urlsplit(self.path)
        # Read the body before answering anything, or leftovers would corrupt the next
        # request on this keep-alive connection.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        rate_headers: dict[str, str] = {}
        try:
            if parts.path.startswith("/_control/"):
                self._send_json(*fake._control(self.command, parts.path, body))
                return
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            headers = Headers(self.headers.items())
            call = Call(self.command, parts.path, query, headers, body)
            delay, fault, rate_headers = fake._admit(call)
            if delay:
                fake._stopping.wait(delay)
            if fault is not None:
                raise fault
            if self.command == "GET" and parts.path == "/2/tweets/search/stream":
                self._serve_stream(query, headers, rate_headers)
                return
            payload = fake._handle_api(self.command, parts.path, query, headers, body)
        except ApiError as error:
            self._send_json(error.status, error.body, {**rate_headers, **error.headers})
            return
        except Exception as error:
            # A bug in the fake: answer like X's 500 instead of dropping the connection,
            # and log it so the failing test shows why.
            self.log_error("fake X failed on %s %s: %r", self.command, self.path, error)
            self._send_json(500, _problem(500, repr(error)), rate_headers)
            return
        self._send_json(200, payload, rate_headers)

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

    def _serve_stream(
        self, query: Mapping[str, str], headers: Headers, rate_headers: Mapping[str, str]
    ) -> None:
        fake = self.fake
        fake._require_app(fake._authenticate(headers.get("authorization")))
        connection = fake._open_stream(_Selection.parse(query))
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in rate_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            self._pump(connection, fake.keepalive_seconds)
        finally:
            # Free the slot before the socket closes, so a prompt reconnect is not refused.
            fake._close_stream(connection)

    def _pump(self, connection: _StreamConnection, keepalive_seconds: float) -> None:
        """Write tweet lines and keep-alives until the stream ends or the client goes away.

        Returning without the terminating zero-length chunk is what makes an ended stream look
        like a dropped connection to the client.
        """
        next_keepalive = time.monotonic() + keepalive_seconds
        while True:
            wait = min(_PEER_CHECK_SECONDS, max(next_keepalive - time.monotonic(), 0.0))
            try:
                line = connection.next_line(wait)
            except _StreamEnded:
                return
            if line is None:
                if self._client_gone():
                    return
                if time.monotonic() < next_keepalive:
                    continue
                line = b""
            try:
                chunk = line + b"\r\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            except OSError:
                return
            next_keepalive = time.monotonic() + keepalive_seconds

    def _client_gone(self) -> bool:
        # A streaming client sends nothing after its request: readable means closed.
        readable, _, _ = select.select([self.connection], [], [], 0)
        return bool(readable)


# --- standalone ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake in the foreground with one brand user, printing how to configure Roost."""
    parser = argparse.ArgumentParser(description="Serve a fake X API v2 on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--user", default="brand", help="username of the brand account")
    parser.add_argument("--keepalive", type=float, default=20.0, help="stream keep-alive seconds")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    options = parser.parse_args(argv)

    fake = FakeX(
        host=options.host,
        port=options.port,
        keepalive_seconds=options.keepalive,
        log_requests=not options.quiet,
    ).start()
    try:
        brand = fake.add_user(options.user)
        consumer_key, consumer_secret, access_token, access_secret = fake.issue_oauth1(brand["id"])
        example = json.dumps(
            {"to": brand["username"], "author": "alice", "text": f"@{brand['username']} hi!"}
        )
        print(
            f"Fake X API listening on {fake.url}\n"
            f"  brand user:            @{brand['username']} (id {brand['id']})\n"
            f"  OAuth 2.0 user token:  {fake.issue_token(brand['id'])}\n"
            f"  OAuth 1.0a:            consumer_key={consumer_key}\n"
            f"                         consumer_secret={consumer_secret}\n"
            f"                         access_token={access_token}\n"
            f"                         access_token_secret={access_secret}\n"
            f"  app bearer:            {fake.app_bearer}\n"
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

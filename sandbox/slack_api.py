"""A stateful fake of the Slack Web API, served over real HTTP on loopback.

The app's own ``slack_sdk.WebClient(token=fake.bot_token, base_url=fake.url)`` and slack-bolt talk
to it unchanged. It follows bolt-python's ``tests/mock_web_api_server`` but keeps state: channels,
messages and threads, users, views, uploaded files and response_url posts. It also enforces the
Slack limits that Roost's Block Kit builders are tested against, answering with Slack's own error
codes, and can inject rate limits (HTTP 429 with ``Retry-After``), 5xx answers, API errors and
delays per method.

Standard library only. All state sits behind one lock; every public reader returns copies.

Standalone, to watch cards arrive by hand::

    python -m sandbox.slack_api --port 8082 --channel C0BRAND:x-brand
"""

import argparse
import base64
import contextlib
import copy
import hashlib
import hmac
import http.client
import itertools
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from sandbox.loopback import is_loopback_host
from sandbox.socket_mode import SocketMode, accept_key

BOT_TOKEN = "xoxb-roost-fake-bot-token"
APP_TOKEN = "xapp-1-roost-fake-app-token"
# Fixed so a person running the standalone server can put it in their .env once.
SIGNING_SECRET = "roost-fake-signing-secret"
APP_ID = "AROOST"
BOT_ID = "BROOSTBOT"
BOT_NAME = "roost"
# .test never resolves (RFC 6761), so nothing can leak to a real host through these links.
WORKSPACE_URL = "https://fake.slack.test"

# Slack's documented limits. Enforced so a builder that breaks one fails here as it would live.
TRIGGER_SECONDS = 3.0  # a trigger_id's life; it works once
MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest request body the fake reads (a file upload's bytes are the largest)."""
MAX_TEXT_CHARS = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_MODAL_TITLE = 24  # a modal's title, and its submit and close buttons' texts
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75  # an option's text, and its description
MAX_PLACEHOLDER = 150
MAX_LABEL = 2_000  # an input block's label and hint
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
DEFAULT_PAGE_SIZE = 100

# Slack's short file types for the MIME types people attach; others fall back to the extension.
FILETYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "application/pdf": "pdf",
    "text/plain": "text",
}
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to Fake Workspace</h1></body></html>"
)
"""What Slack serves a file URL fetched without a valid token: its sign-in page (HTTP 200)."""

Json = dict[str, Any]
Listener = Callable[[str, Json], None]
T = TypeVar("T")
# A conversation id's first letter and the channel_type message events carry for it.
_CHANNEL_TYPES = {"C": "channel", "G": "group", "D": "im"}


class Page(Protocol):
    """What the FakeSlack hands /sandbox/ requests to (sandbox.page.Page)."""

    def serve(
        self, verb: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]: ...


@dataclass(frozen=True)
class Call:
    """One Web API request as received: the method, its arguments (without the token) and the
    request headers (names lower-cased)."""

    method: str
    args: Json
    headers: dict[str, str]


class _SlackError(Exception):
    """Raised while handling a request to answer ``{"ok": false, "error": error}``."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        # Slack explains invalid_blocks / invalid_arguments in response_metadata.messages.
        self.messages = messages or []


@dataclass
class _Reply:
    """An HTTP answer: a JSON object or plain text body, plus extra headers."""

    status: int
    body: Json | str | bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ok(cls, fields: Json) -> Self:
        return cls(200, {"ok": True, **fields})

    @classmethod
    def error(cls, error: str, *, status: int = 200, messages: list[str] | None = None) -> Self:
        body: Json = {"ok": False, "error": error}
        if messages:
            body["response_metadata"] = {"messages": messages}
        return cls(status, body)


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int
    error: str | None

    def reply(self) -> _Reply:
        if self.error is not None:
            return _Reply.error(self.error)
        if self.status == 429:
            return _Reply(
                429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)}
            )
        phrase = http.client.responses.get(self.status, "server error")
        return _Reply.error(phrase.lower().replace(" ", "_"), status=self.status)


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool
    bot_is_member: bool
    created: int


@dataclass
class _Upload:
    """A file announced by files.getUploadURLExternal; content arrives at its upload URL."""

    id: str
    filename: str
    content: bytes | None = None


class FakeSlack:
    """A fake Slack workspace with one bot, reachable at ``url`` once started.

    Use as a context manager or call ``start()`` / ``stop()``. Seed it with ``add_channel`` and
    ``add_user``; inspect what the app did with ``messages``, ``thread``, ``ephemerals``,
    ``responses``, ``views``, ``files``, ``downloads`` and ``calls``; break it with ``fail``,
    ``slow``, ``remove_bot_from``, ``revoke`` and ``delete_file``. Files a person attached (as
    in a modal's ``file_input``) come from ``add_file``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0ROOST",
        bot_user_id: str = "UROOSTBOT",
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_token = BOT_TOKEN
        self.app_token = APP_TOKEN
        self.signing_secret = SIGNING_SECRET
        self._address = (host, port)
        self._server: _Server | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None
        # Set on stop() so requests held back by slow() give up instead of delaying shutdown.
        self._stopping = threading.Event()
        # Reentrant so listeners and wait_for predicates may call the public readers.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._revoked: set[str] = set()
        self._channels: dict[str, _Channel] = {}
        # channel id -> ts -> message record; insertion order is post order.
        self._messages: dict[str, dict[str, Json]] = {}
        self._users: dict[str, Json] = {}
        self._views_by_id: dict[str, Json] = {}
        self._uploads: dict[str, _Upload] = {}
        self._response_ids: set[str] = set()
        self.socket_mode = SocketMode(APP_ID)
        """Socket Mode: deliver(), wait_for_ack(), refresh() (see sandbox.socket_mode)."""
        # trigger_id -> when it was issued (time.monotonic()); used ones move to the set.
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self.trigger_seconds = TRIGGER_SECONDS
        # None: a call that passes, between the faults of fail(every=...).
        self._faults: dict[str, deque[_Fault | None]] = {}
        self._delays: dict[str, deque[float]] = {}
        # method -> how many of its next calls are carried out but never answered.
        self._lost_answers: dict[str, int] = {}
        # Slack's rate limits, when enforce_limits() was called: buckets of tokens by
        # (method, channel or "" for a workspace-wide limit), and the 429s answered.
        self._limits: dict[str, tuple[float, float, bool]] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.rate_limited = 0
        self._calls: list[Call] = []
        self._ephemerals: list[Json] = []
        self._responses: list[Json] = []
        self._views: list[Json] = []
        self._files: list[Json] = []
        # Files people shared in the workspace (add_file): id -> (files.info object, bytes).
        self._workspace_files: dict[str, tuple[Json, bytes]] = {}
        self._deleted_files: set[str] = set()
        self._downloads: list[Json] = []
        self._listeners: list[Listener] = []
        self._watchers: list[Callable[[], None]] = []
        # Every response_url POST as (its URL, the JSON body), for the page to place it.
        self._response_posts: list[tuple[str, Json]] = []
        self.page: Page | None = None
        """The sandbox's web page served under /sandbox/, once sandbox.page.attach() set it."""
        self._ts_second = 0
        self._ts_sequence = 0
        self._id_numbers = itertools.count(1)
        self._methods: dict[str, Callable[[Json], Json]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.delete": self._chat_delete,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.info": self._files_info,
        }
        self.add_user(bot_user_id, BOT_NAME, real_name="Roost", is_bot=True)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Bind the socket and serve in a background thread. Returns self for chaining."""
        if self._server is not None:
            raise RuntimeError("FakeSlack is already running")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._base_url = f"http://{self._address[0]}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # bounds how long stop() waits for the accept loop
            name=f"FakeSlack:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: answer requests in flight (cutting slow() delays short), close idle
        keep-alive connections and join every server thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        with self._lock:
            self._notify()  # long-polls of the page give up now
        self.socket_mode.close_all()
        server.shutdown()
        server.drop_connections(grace=5.0)
        server.server_close()
        thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        """Whether stop() has begun: long requests should answer now."""
        return self._stopping.is_set()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the server (no trailing slash); known once started."""
        if self._base_url is None:
            raise RuntimeError("FakeSlack has not been started; call start() first")
        return self._base_url

    @property
    def url(self) -> str:
        """Web API base URL for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------- seeding and breaking

    def add_channel(
        self, channel_id: str, name: str, *, bot_is_member: bool = True, is_private: bool = False
    ) -> None:
        """Create (or redefine, keeping its messages) a channel the bot can be a member of."""
        if channel_id[:1] not in ("C", "G", "D"):
            raise ValueError(f"Slack conversation ids start with C, G or D: {channel_id!r}")
        with self._lock:
            self._channels[channel_id] = _Channel(
                channel_id, name, is_private, bot_is_member, int(time.time())
            )
            self._messages.setdefault(channel_id, {})
            self._notify()

    def remove_bot_from(self, channel_id: str) -> None:
        """Take the bot out of a channel; later posts there answer ``not_in_channel``."""
        with self._lock:
            self._known_channel(channel_id).bot_is_member = False

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Asia/Seoul",
        is_admin: bool = False,
        team_id: str | None = None,
        locale: str = "en-US",
    ) -> None:
        """Add a workspace member that ``users.info`` will describe (``team_id``: a user of
        another workspace, as Slack Connect shows them; ``locale``: their Slack language,
        which ``users.info`` gives only with ``include_locale``)."""
        offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
        real_name = name if real_name is None else real_name
        user = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": name,
            "real_name": real_name,
            "deleted": deleted,
            "is_bot": is_bot,
            "is_admin": is_admin,
            "is_owner": False,
            "is_app_user": False,
            "tz": tz,
            "tz_offset": int(offset.total_seconds()),
            "locale": locale,
            "profile": {"display_name": name, "real_name": real_name},
        }
        with self._lock:
            self._users[user_id] = user
            self._notify()

    def add_file(self, name: str, mimetype: str, content: bytes, *, user: str = "U0PERSON") -> Json:
        """Put a file in the workspace as if `user` had attached it; returns the file object
        a ``file_input`` element gives a view submission (and ``files.info`` describes).

        Its ``url_private`` and ``url_private_download`` serve `content` to a request carrying
        ``Authorization: Bearer <bot token>``; without it, Slack's sign-in page after a redirect.
        """
        extension = name.rpartition(".")[2].lower() if "." in name else "binary"
        with self._lock:
            file_id = self._new_id("F")
            base = f"{self.base_url}/files-pri/{self.team_id}-{file_id}"
            created = int(time.time())
            file = {
                "id": file_id,
                "created": created,
                "timestamp": created,
                "name": name,
                "title": name,
                "mimetype": mimetype,
                "filetype": FILETYPES.get(mimetype, extension),
                "user": user,
                "mode": "hosted",
                "is_external": False,
                "is_public": False,
                "size": len(content),
                "url_private": f"{base}/{quote(name)}",
                "url_private_download": f"{base}/download/{quote(name)}",
                "permalink": f"{WORKSPACE_URL}/files/{user}/{file_id}/{quote(name)}",
            }
            self._workspace_files[file_id] = (file, content)
            return copy.deepcopy(file)

    def delete_file(self, file_id: str) -> None:
        """Delete a file added with ``add_file``: its URLs answer 404, files.info
        ``file_deleted``."""
        with self._lock:
            if file_id not in self._workspace_files:
                raise KeyError(f"no file {file_id}")
            del self._workspace_files[file_id]
            self._deleted_files.add(file_id)

    def revoke(self, token: str) -> None:
        """Revoke a token; calls made with it answer ``token_revoked``."""
        with self._lock:
            self._revoked.add(token)

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
        every: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail (with ``every``, every
        ``every``-th call, ``times`` times: a storm rather than an outage).

        With ``error`` they answer HTTP 200 ``{"ok": false, "error": error}``; otherwise HTTP 429
        with ``Retry-After: retry_after`` (Slack's rate limit) or the given 5xx ``status``.
        Faults queue up behind earlier ones for the same method.
        """
        if times < 1 or every < 1:
            raise ValueError("times and every must be at least 1")
        if error is None and status != 429 and not 500 <= status <= 599:
            raise ValueError(f"status must be 429 or 5xx, not {status}")
        with self._lock:
            queue = self._faults.setdefault(method, deque())
            queue.extend(([None] * (every - 1) + [_Fault(status, retry_after, error)]) * times)

    def enforce_limits(self) -> None:
        """Answer as Slack does past its rate limits, from now on: `chat.postMessage`
        about one message a second in a channel with a short burst over it, and the
        methods Roost calls on its own at their documented tiers for the workspace
        (Tier 3: 50 a minute, Tier 4: 100), each with HTTP 429 and `Retry-After`.
        `rate_limited` counts the 429s answered. The `views.*` methods, which answer a
        person's click, are left unlimited here."""
        tier_3, tier_4 = (50 / 60, 5.0, False), (100 / 60, 10.0, False)
        with self._lock:
            self._limits = {
                "chat.postMessage": (1.0, 4.0, True),
                "chat.update": (50 / 60, 4.0, False),
                "conversations.open": tier_3,
                "chat.postEphemeral": tier_4,
                "users.info": tier_4,
            }

    def _over_limit(self, method: str, args: Json) -> bool:
        """Take a token for the call, if its method is limited; whether none was left
        (caller holds the lock)."""
        limit = self._limits.get(method)
        if limit is None:
            return False
        rate, burst, per_channel = limit
        key = (method, str(args.get("channel", "")) if per_channel else "")
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            self.rate_limited += 1
            return True
        self._buckets[key] = (tokens - 1, now)
        return False

    def slow(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Delay the answer to the next ``times`` calls to ``method`` by ``seconds``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._delays.setdefault(method, deque()).extend([seconds] * times)

    def lose_answer(self, method: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` calls to ``method`` (a message is posted) and then
        drop the connection without answering, as when Slack's answer is lost on the way."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._lost_answers[method] = self._lost_answers.get(method, 0) + times

    def _answer_lost(self, method: str) -> bool:
        with self._lock:
            if self._lost_answers.get(method, 0) < 1:
                return False
            self._lost_answers[method] -= 1
            return True

    def issue_trigger(self) -> str:
        """A fresh trigger_id, as a click, a shortcut or a command carries: views.open and
        views.push take it once, within ``trigger_seconds`` (3 s on Slack)."""
        trigger_id = f"{next(self._id_numbers)}.{random.randrange(10**12)}.{uuid.uuid4().hex}"
        with self._lock:
            self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    def _use_trigger(self, trigger_id: str) -> None:
        """Spend a trigger as Slack does, or raise Slack's error for it (caller holds the
        lock)."""
        issued = self._triggers.pop(trigger_id, None)
        if issued is None:
            used = trigger_id in self._used_triggers
            raise _SlackError("exchanged_trigger_id" if used else "invalid_trigger_id")
        self._used_triggers.add(trigger_id)
        if time.monotonic() - issued > self.trigger_seconds:
            raise _SlackError("expired_trigger_id")

    def user_message_event(
        self,
        channel_id: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None,
        broadcast: bool = False,
    ) -> Json:
        """A person's reply in a thread (or, with `thread_ts` None, their message in the
        channel), stored in the channel, and the ``message`` event Slack sends the app for it.
        With `broadcast` ("Also send to channel") Slack sends it as subtype
        ``thread_broadcast``, with the thread's ``root`` message. The `text` is as typed:
        Slack escapes its ``&``, ``<`` and ``>``, keeping its own mentions."""
        text = slack_escaped(text)
        with self._lock:
            messages = self._channel_messages(channel_id)
            if thread_ts is not None and thread_ts not in messages:
                raise ValueError(f"no message {thread_ts} in {channel_id}")
            record = self._store_message(
                channel_id,
                text,
                [],
                thread_ts=thread_ts,
                reply_broadcast=broadcast and thread_ts is not None,
            )
            record["user"] = user
            event: Json = {
                "type": "message",
                "channel": channel_id,
                "channel_type": _CHANNEL_TYPES.get(channel_id[0], "channel"),
                "user": user,
                "text": text,
                "ts": record["ts"],
                "event_ts": record["ts"],
                "team": self.team_id,
            }
            if thread_ts is not None:
                event["thread_ts"] = thread_ts
            self._notify()
            if broadcast and thread_ts is not None:
                root = self._channel_messages(channel_id)[thread_ts]
                event["subtype"] = "thread_broadcast"
                event["root"] = self._api_message(root)
            return event

    def response_url(self) -> str:
        """A fresh URL that accepts POSTs like a Slack response_url, recorded in ``responses``."""
        response_id = uuid.uuid4().hex
        with self._lock:
            self._response_ids.add(response_id)
        return f"{self.base_url}/_response/{response_id}"

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change (and once on stop), e.g. to wake a page
        showing the workspace. It runs under the fake's lock: keep it quick and do not call
        back into the fake."""
        with self._lock:
            self._watchers.append(callback)

    def _notify(self) -> None:
        """Wake wait_for() and the watchers (caller holds the lock)."""
        self._changed.notify_all()
        for callback in self._watchers:
            callback()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, record)`` on every ``posted``, ``updated``, ``deleted``,
        ``ephemeral`` and ``response`` event. It runs under the fake's lock: keep it quick."""
        with self._lock:
            self._listeners.append(listener)

    # ---------------------------------------------------------------- inspection

    def messages(self, channel: str) -> list[Json]:
        """Top-level and thread messages of a channel in post order.

        Each is ``{"ts", "channel", "text", "blocks", "user", "edits"}`` plus ``thread_ts`` for
        replies, ``metadata`` when posted with some, ``reply_broadcast`` and ``files`` when set.
        """
        with self._lock:
            return copy.deepcopy(list(self._channel_messages(channel).values()))

    def thread(self, channel: str, thread_ts: str) -> list[Json]:
        """The replies in a thread (not its parent), in post order."""
        with self._lock:
            replies = self._replies(channel, thread_ts)
            return copy.deepcopy(replies)

    def message(self, channel: str, ts: str) -> Json:
        """One message by channel and ts; KeyError if there is none."""
        with self._lock:
            record = self._channel_messages(channel).get(ts)
            if record is None:
                raise KeyError(f"no message {ts} in {channel}")
            return copy.deepcopy(record)

    @property
    def ephemerals(self) -> list[Json]:
        """chat.postEphemeral calls: ``{"channel", "user", "text", "blocks"}`` (+ ``thread_ts``)."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def responses(self) -> list[Json]:
        """JSON bodies POSTed to response URLs, in order."""
        with self._lock:
            return copy.deepcopy(self._responses)

    @property
    def users(self) -> list[Json]:
        """The workspace's members as ``users.info`` describes them, the bot included."""
        with self._lock:
            return copy.deepcopy(list(self._users.values()))

    @property
    def channels(self) -> list[Json]:
        """Every conversation (DMs opened by ``conversations.open`` too) as
        ``conversations.info`` describes it."""
        with self._lock:
            return [self._api_channel(channel) for channel in self._channels.values()]

    def response_posts(self, start: int = 0) -> list[tuple[str, Json]]:
        """The POSTs to response URLs from the `start`-th on: (the URL, its JSON body)."""
        with self._lock:
            return copy.deepcopy(self._response_posts[start:])

    def views_from(self, start: int) -> list[Json]:
        """``views`` from the `start`-th call on."""
        with self._lock:
            return copy.deepcopy(self._views[start:])

    def ephemerals_from(self, start: int) -> list[Json]:
        """``ephemerals`` from the `start`-th on."""
        with self._lock:
            return copy.deepcopy(self._ephemerals[start:])

    def has_view(self, view_id: str) -> bool:
        """Whether the view is open (or, for a Home, published)."""
        with self._lock:
            return view_id in self._views_by_id

    def adopt_view(self, view: Json, *, view_id: str | None = None) -> Json:
        """Open (or, given `view_id`, replace) a modal an app answered a submission with
        (``response_action`` push or update), as Slack does: later ``views.update`` calls
        find it by id. Returns the view as stored; ``ValueError`` if Slack would refuse it."""
        with self._lock:
            try:
                checked = _view_arg({"view": view}, "modal")
            except _SlackError as err:
                raise ValueError("; ".join([err.error, *err.messages])) from None
            if view_id is not None and view_id not in self._views_by_id:
                raise ValueError(f"no view {view_id}")
            method = "response_action.update" if view_id else "response_action.push"
            stored = self._save_view(method, checked, view_id=view_id)
            self._notify()
            return stored

    def open_view(self, view_id: str) -> Json:
        """The modal as Slack holds it now (its id and hash too), for a click inside it."""
        with self._lock:
            return copy.deepcopy(self._views_by_id[view_id])

    def close_view(self, view_id: str) -> None:
        """The person closes a modal: updating it answers ``not_found`` from now on."""
        with self._lock:
            self._views_by_id.pop(view_id)
            self._notify()

    @property
    def views(self) -> list[Json]:
        """views.open/push/publish/update calls: ``{"method", "view_id", "view"}`` plus the
        ``trigger_id``, ``user_id`` or ``hash`` the call carried."""
        with self._lock:
            return copy.deepcopy(self._views)

    @property
    def files(self) -> list[Json]:
        """Completed uploads: ``{"id", "title", "filename", "size", "content", "channel"}``, one per
        file and channel shared to (``channel`` None when not shared)."""
        with self._lock:
            return copy.deepcopy(self._files)

    def file_content(self, file_id: str) -> tuple[str, bytes] | None:
        """A completed upload's file name and bytes, as a person in the channel sees it."""
        with self._lock:
            for stored in self._files:
                if stored["id"] == file_id:
                    return stored["filename"], stored["content"]
            return None

    @property
    def downloads(self) -> list[Json]:
        """Fetches of file URLs: ``{"file", "path", "authorized"}`` (whether the bot token came
        with it), in order."""
        with self._lock:
            return copy.deepcopy(self._downloads)

    @property
    def calls(self) -> list[Call]:
        """Every Web API call in arrival order, including those answered with faults."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one Web API method, e.g. ``"chat.postMessage"``."""
        return [call for call in self.calls if call.method == method]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked whenever the fake handles a request, so there is no polling interval to tune.
        Raises TimeoutError after ``timeout`` seconds.
        """
        with self._changed:
            result = self._changed.wait_for(predicate, timeout)
        if not result:
            raise TimeoutError(f"condition not met within {timeout} s")
        return result

    # ---------------------------------------------------------------- request entry points

    def _handle_api(self, method: str, args: Json, headers: dict[str, str]) -> _Reply:
        bearer = headers.get("authorization", "")
        form_token = args.pop("token", None)
        token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else form_token
        with self._lock:
            self._calls.append(Call(method, copy.deepcopy(args), headers))
            self._notify()  # wait_for may be watching calls, e.g. one held by slow()
            delay = self._pop(self._delays, method)
        if delay:
            self._stopping.wait(delay)  # outside the lock: other requests proceed meanwhile
        with self._lock:
            fault = self._pop(self._faults, method)
            if fault is None and self._over_limit(method, args):
                return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
            reply = fault.reply() if fault is not None else self._run_method(method, token, args)
            self._notify()
            return reply

    def _run_method(self, method: str, token: str | None, args: Json) -> _Reply:
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise _SlackError("unknown_method")
            self._authorize(method, token)
            return _Reply.ok(handler(args))
        except _SlackError as err:
            return _Reply.error(err.error, messages=err.messages)

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise _SlackError("not_authed")
        if token in self._revoked:
            raise _SlackError("token_revoked")
        if token not in (self.bot_token, self.app_token):
            raise _SlackError("invalid_auth")
        # App-level tokens only open Socket Mode connections, which bot tokens cannot.
        if (token == self.app_token) != (method == "apps.connections.open"):
            raise _SlackError("not_allowed_token_type")

    def _handle_response_url(self, response_id: str, body: bytes) -> _Reply:
        with self._lock:
            if response_id not in self._response_ids:
                return _Reply.error("no_service", status=404)
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return _Reply.error("invalid_payload", status=400)
            if not isinstance(payload, dict):
                return _Reply.error("invalid_payload", status=400)
            self._responses.append(payload)
            self._response_posts.append((f"{self.base_url}/_response/{response_id}", payload))
            self._emit("response", payload)
            self._notify()
            return _Reply.ok({})

    def _handle_upload(self, file_id: str, content: bytes) -> _Reply:
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return _Reply(404, "Not Found")
            upload.content = content
            self._notify()
            # files.slack.com answers the raw upload with this plain-text line.
            return _Reply(200, f"OK - {len(content)}")

    def _handle_file_download(self, path: str, authorization: str) -> _Reply:
        """A ``url_private`` fetch: the bytes for the bot token; else a redirect to sign in,
        as Slack answers a browser without a session."""
        owner, _, rest = path.partition("/")
        file_id = owner.removeprefix(f"{self.team_id}-")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        authorized = bool(token) and token == self.bot_token and token not in self._revoked
        with self._lock:
            self._downloads.append({"file": file_id, "path": path, "authorized": authorized})
            self._notify()
            if not authorized:
                return _Reply(302, "", {"Location": f"{self.base_url}/?redir={quote(path)}"})
            stored = self._workspace_files.get(file_id)
            name = unquote(rest.removeprefix("download/"))
            if stored is None or stored[0]["name"] != name:
                return _Reply(404, "File not found", {"Content-Type": "text/html"})
            file, content = stored
            return _Reply(200, content, {"Content-Type": file["mimetype"]})

    def _handle_control(self, verb: str, path: str, query: Json, body: bytes) -> _Reply:
        if (verb, path) == ("GET", "messages"):
            return self._control_messages(query.get("channel"))
        if (verb, path) == ("GET", "calls"):
            return _Reply.ok({"calls": [asdict(call) for call in self.calls]})
        if (verb, path) == ("POST", "faults"):
            return self._control_faults(body)
        return _Reply.error("not_found", status=404)

    def _control_messages(self, channel: str | None) -> _Reply:
        with self._lock:
            if channel is None:
                everything = [m for msgs in self._messages.values() for m in msgs.values()]
                everything.sort(key=lambda m: Decimal(m["ts"]))
                # Copied: the reply is serialised after the lock is released.
                return _Reply.ok({"messages": copy.deepcopy(everything)})
            if channel not in self._messages:
                return _Reply.error("channel_not_found", status=404)
            return _Reply.ok({"messages": self.messages(channel)})

    def _control_faults(self, body: bytes) -> _Reply:
        try:
            spec = json.loads(body)
            self.fail(
                spec["method"],
                status=int(spec.get("status", 429)),
                retry_after=int(spec.get("retry_after", 1)),
                times=int(spec.get("times", 1)),
                error=spec.get("error"),
                every=int(spec.get("every", 1)),
            )
        except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
            return _Reply.error("invalid_arguments", status=400, messages=[str(exc)])
        return _Reply.ok({})

    # ---------------------------------------------------------------- Web API methods

    def _auth_test(self, args: Json) -> Json:
        return {
            "url": f"{WORKSPACE_URL}/",
            "team": "Roost (fake)",
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: Json) -> Json:
        # ws://, not wss://: slack_sdk speaks plain WebSocket to any port but 443.
        ticket = self.socket_mode.new_ticket()
        host = self.base_url.removeprefix("http://")
        return {"url": f"ws://{host}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _chat_post_message(self, args: Json) -> Json:
        channel = self._member_channel(args.get("channel"))
        text, blocks = _message_content(args)
        thread_ts = self._thread_root(channel.id, args.get("thread_ts"))
        record = self._store_message(
            channel.id,
            text,
            blocks,
            thread_ts=thread_ts,
            metadata=_metadata_arg(args),
            reply_broadcast=thread_ts is not None and _flag(args, "reply_broadcast"),
        )
        return {"channel": channel.id, "ts": record["ts"], "message": self._api_message(record)}

    def _chat_update(self, args: Json) -> Json:
        channel = self._visible_channel(args.get("channel"))
        record = self._find_message(channel.id, args.get("ts"))
        if not args.get("text") and args.get("blocks") is None:
            raise _SlackError("no_text")
        # Validate every field before changing any; fields left out keep their value, as in Slack.
        changes: Json = {
            "text": _checked_text(args) if args.get("text") else None,
            "blocks": _blocks_arg(args) if args.get("blocks") is not None else None,
            "metadata": _metadata_arg(args),
        }
        record.update({name: value for name, value in changes.items() if value is not None})
        record["edits"] += 1
        self._emit("updated", record)
        return {
            "channel": channel.id,
            "ts": record["ts"],
            "text": record["text"],
            "message": self._api_message(record),
        }

    def _chat_post_ephemeral(self, args: Json) -> Json:
        channel = self._member_channel(args.get("channel"))
        user = args.get("user")
        if not user:
            raise _SlackError("user_not_found")
        text, blocks = _message_content(args)
        ephemeral: Json = {"channel": channel.id, "user": user, "text": text, "blocks": blocks}
        if args.get("thread_ts"):
            ephemeral["thread_ts"] = args["thread_ts"]
        self._ephemerals.append(ephemeral)
        self._emit("ephemeral", ephemeral)
        return {"message_ts": self._next_ts()}

    def _chat_get_permalink(self, args: Json) -> Json:
        channel = self._visible_channel(args.get("channel"))
        record = self._find_message(channel.id, args.get("message_ts"))
        permalink = f"{WORKSPACE_URL}/archives/{channel.id}/p{record['ts'].replace('.', '')}"
        if "thread_ts" in record:
            permalink += f"?thread_ts={record['thread_ts']}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    def _chat_delete(self, args: Json) -> Json:
        channel = self._visible_channel(args.get("channel"))
        record = self._find_message(channel.id, args.get("ts"))
        del self._messages[channel.id][record["ts"]]
        self._emit("deleted", record)
        return {"channel": channel.id, "ts": record["ts"]}

    def _conversations_info(self, args: Json) -> Json:
        return {"channel": self._api_channel(self._visible_channel(args.get("channel")))}

    def _conversations_join(self, args: Json) -> Json:
        channel = self._known_channel_or_error(args.get("channel"))
        if channel.is_private:
            raise _SlackError("method_not_supported_for_channel_type")
        answer: Json = {}
        if channel.bot_is_member:
            answer["warning"] = "already_in_channel"
        channel.bot_is_member = True
        return {**answer, "channel": self._api_channel(channel)}

    def _conversations_history(self, args: Json) -> Json:
        channel = self._member_channel(args.get("channel"))
        oldest = _ts_bound(args, "oldest", "invalid_ts_oldest")
        latest = _ts_bound(args, "latest", "invalid_ts_latest")
        inclusive = _flag(args, "inclusive")

        def in_window(ts: Decimal) -> bool:
            above = oldest is None or ts > oldest or (inclusive and ts == oldest)
            below = latest is None or ts < latest or (inclusive and ts == latest)
            return above and below

        # History lists thread parents and broadcast replies, never plain replies; newest first.
        listed = [
            record
            for record in reversed(self._messages[channel.id].values())
            if ("thread_ts" not in record or record.get("reply_broadcast"))
            and in_window(Decimal(record["ts"]))
        ]
        return self._message_page(listed, args)

    def _conversations_replies(self, args: Json) -> Json:
        channel = self._member_channel(args.get("channel"))
        ts = args.get("ts")
        record = self._messages[channel.id].get(ts) if isinstance(ts, str) else None
        if record is None:
            raise _SlackError("thread_not_found")
        # Asked about a reply, Slack answers with that reply alone.
        replies = [] if "thread_ts" in record else self._replies(channel.id, record["ts"])
        return self._message_page([record, *replies], args)

    def _conversations_open(self, args: Json) -> Json:
        """A DM with one user (``users``), opened once and kept: the bot is always in it."""
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise _SlackError("not_implemented" if users else "users_list_not_supplied")
        user = self._users.get(users[0])
        if user is None or user["deleted"]:
            raise _SlackError("user_not_found" if user is None else "user_disabled")
        if user["is_bot"]:
            raise _SlackError("cannot_dm_bot")
        channel_id = "D" + users[0][1:]
        if channel_id not in self._channels:
            self._channels[channel_id] = _Channel(
                channel_id, users[0], True, True, int(time.time())
            )
            self._messages.setdefault(channel_id, {})
        return {"channel": {"id": channel_id}}

    def dms(self, user_id: str) -> list[Json]:
        """Messages the bot sent to a user in their DM (see ``conversations.open``)."""
        with self._lock:
            opened = "D" + user_id[1:] in self._channels
        return self.messages("D" + user_id[1:]) if opened else []

    def _users_info(self, args: Json) -> Json:
        user = self._users.get(args.get("user") or "")
        if user is None:
            raise _SlackError("user_not_found")
        described = copy.deepcopy(user)
        if str(args.get("include_locale", "")).lower() not in ("1", "true"):
            described.pop("locale", None)  # Slack says it only when asked
        return {"user": described}

    def _views_open(self, args: Json) -> Json:
        trigger_id = _required(args, "trigger_id")
        view = _view_arg(args, "modal")
        self._use_trigger(trigger_id)
        return {"view": self._save_view("views.open", view, trigger_id=trigger_id)}

    def _views_push(self, args: Json) -> Json:
        trigger_id = _required(args, "trigger_id")
        view = _view_arg(args, "modal")
        self._use_trigger(trigger_id)
        return {"view": self._save_view("views.push", view, trigger_id=trigger_id)}

    def _views_publish(self, args: Json) -> Json:
        user_id = _required(args, "user_id")
        view = _view_arg(args, "home")
        return {"view": self._save_view("views.publish", view, user_id=user_id)}

    def _views_update(self, args: Json) -> Json:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        current = next(
            (
                stored
                for stored in self._views_by_id.values()
                if stored["id"] == view_id or (external_id and stored["external_id"] == external_id)
            ),
            None,
        )
        if current is None:
            raise _SlackError("not_found")
        view = _view_arg(args, "modal", "home")
        targets: Json = {}
        if args.get("hash"):
            if args["hash"] != current["hash"]:
                raise _SlackError("hash_conflict")
            targets["hash"] = args["hash"]
        return {"view": self._save_view("views.update", view, view_id=current["id"], **targets)}

    def _files_get_upload_url_external(self, args: Json) -> Json:
        filename = _required(args, "filename")
        try:
            int(args.get("length", ""))  # required by Slack, though the bytes decide the size
        except (TypeError, ValueError):
            raise _SlackError("invalid_arguments", ["length must be an integer"]) from None
        file_id = self._new_id("F")
        self._uploads[file_id] = _Upload(file_id, filename)
        return {"upload_url": f"{self.base_url}/_upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: Json) -> Json:
        items = _json_arg(args, "files", "invalid_arguments")
        if not isinstance(items, list) or not items:
            raise _SlackError("invalid_arguments", ["files must be a non-empty array"])
        completed: list[tuple[_Upload, str, bytes]] = []
        for item in items:
            upload = self._uploads.get(item.get("id", "")) if isinstance(item, dict) else None
            # An id whose bytes never reached the upload URL is as unknown as a made-up one.
            if upload is None or upload.content is None:
                raise _SlackError("file_not_found")
            completed.append((upload, item.get("title") or upload.filename, upload.content))
        channel_ids = [args.get("channel_id"), *str(args.get("channels") or "").split(",")]
        channels = [self._member_channel(channel_id) for channel_id in channel_ids if channel_id]
        thread_roots = {c.id: self._thread_root(c.id, args.get("thread_ts")) for c in channels}

        # Everything is validated; from here on the call succeeds.
        summaries = [
            {"id": upload.id, "name": upload.filename, "title": title, "size": len(content)}
            for upload, title, content in completed
        ]
        for channel in channels:
            self._store_message(
                channel.id,
                _text_arg(args, "initial_comment"),
                [],
                thread_ts=thread_roots[channel.id],
                files=summaries,
            )
        shared_to: list[str | None] = [c.id for c in channels] or [None]
        for upload, title, content in completed:
            del self._uploads[upload.id]
            for channel_id in shared_to:
                self._files.append(
                    {
                        "id": upload.id,
                        "title": title,
                        "filename": upload.filename,
                        "size": len(content),
                        "content": content,
                        "channel": channel_id,
                    }
                )
        return {"files": [{**summary, "user": self.bot_user_id} for summary in summaries]}

    def _files_info(self, args: Json) -> Json:
        file_id = _required(args, "file")
        if file_id in self._deleted_files:
            raise _SlackError("file_deleted")
        stored = self._workspace_files.get(file_id)
        if stored is None:
            raise _SlackError("file_not_found")
        return {
            "file": copy.deepcopy(stored[0]),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    # ---------------------------------------------------------------- state helpers

    def _emit(self, kind: str, record: Json) -> None:
        for listener in self._listeners:
            listener(kind, copy.deepcopy(record))

    @staticmethod
    def _pop(queues: dict[str, deque[T]], method: str) -> T | None:
        queue = queues.get(method)
        return queue.popleft() if queue else None

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._id_numbers):010d}"

    def _next_ts(self) -> str:
        """A unique, increasing Slack ts: the current second plus a per-second counter."""
        now = int(time.time())
        if now > self._ts_second:
            self._ts_second, self._ts_sequence = now, 0
        self._ts_sequence += 1
        if self._ts_sequence > 999_999:  # the fraction has six digits; borrow the next second
            self._ts_second, self._ts_sequence = self._ts_second + 1, 1
        return f"{self._ts_second}.{self._ts_sequence:06d}"

    def _known_channel(self, channel_id: str) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id!r}; add_channel() it first")
        return channel

    def _channel_messages(self, channel_id: str) -> dict[str, Json]:
        self._known_channel(channel_id)
        return self._messages[channel_id]

    def _known_channel_or_error(self, channel_id: object) -> _Channel:
        channel = self._channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None:
            raise _SlackError("channel_not_found")
        return channel

    def _visible_channel(self, channel_id: object) -> _Channel:
        """A channel the bot can see: public ones always, private ones only as a member."""
        channel = self._known_channel_or_error(channel_id)
        if channel.is_private and not channel.bot_is_member:
            raise _SlackError("channel_not_found")
        return channel

    def _member_channel(self, channel_id: object) -> _Channel:
        """A channel the bot can post in and read, i.e. one it is a member of."""
        channel = self._visible_channel(channel_id)
        if not channel.bot_is_member:
            raise _SlackError("not_in_channel")
        return channel

    def _find_message(self, channel_id: str, ts: object) -> Json:
        record = self._messages[channel_id].get(ts) if isinstance(ts, str) else None
        if record is None:
            raise _SlackError("message_not_found")
        return record

    def _thread_root(self, channel_id: str, thread_ts: object) -> str | None:
        """The ts of the thread a reply to ``thread_ts`` lands in, or None for a top-level post."""
        if not thread_ts:
            return None
        parent = self._messages[channel_id].get(thread_ts) if isinstance(thread_ts, str) else None
        if parent is None:
            raise _SlackError("thread_not_found")
        # Slack threads are one level deep: answering a reply joins that reply's thread.
        return parent.get("thread_ts", parent["ts"])

    def _replies(self, channel_id: str, thread_ts: str) -> list[Json]:
        return [
            record
            for record in self._channel_messages(channel_id).values()
            if record.get("thread_ts") == thread_ts
        ]

    def _store_message(
        self,
        channel_id: str,
        text: str,
        blocks: list[Json],
        *,
        thread_ts: str | None,
        metadata: Json | None = None,
        reply_broadcast: bool = False,
        files: list[Json] | None = None,
    ) -> Json:
        record: Json = {
            "ts": self._next_ts(),
            "channel": channel_id,
            "text": text,
            "blocks": blocks,
            "user": self.bot_user_id,
            "edits": 0,
        }
        if thread_ts is not None:
            record["thread_ts"] = thread_ts
        if metadata is not None:
            record["metadata"] = metadata
        if reply_broadcast:
            record["reply_broadcast"] = True
        if files:
            record["files"] = files
        self._messages[channel_id][record["ts"]] = record
        self._emit("posted", record)
        return record

    def _api_message(self, record: Json, *, with_metadata: bool = True) -> Json:
        """A message record in the shape Slack's API returns it."""
        message: Json = {
            "type": "message",
            "ts": record["ts"],
            "user": record["user"],
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "text": record["text"],
            "blocks": copy.deepcopy(record["blocks"]),
        }
        if "thread_ts" in record:
            message["thread_ts"] = record["thread_ts"]
            message["parent_user_id"] = self.bot_user_id
            if record.get("reply_broadcast"):
                message["subtype"] = "thread_broadcast"
        elif replies := self._replies(record["channel"], record["ts"]):
            message["thread_ts"] = record["ts"]
            message["reply_count"] = len(replies)
            message["latest_reply"] = replies[-1]["ts"]
        if record["edits"]:
            message["edited"] = {"user": record["user"]}
        if "files" in record:
            message["files"] = copy.deepcopy(record["files"])
            message["upload"] = True
        if with_metadata and "metadata" in record:
            message["metadata"] = copy.deepcopy(record["metadata"])
        return message

    def _message_page(self, records: list[Json], args: Json) -> Json:
        """One cursor page of messages, the way conversations.history/replies paginate."""
        try:
            limit = int(args.get("limit") or DEFAULT_PAGE_SIZE)
        except ValueError:
            raise _SlackError("invalid_limit") from None
        if limit < 1:
            raise _SlackError("invalid_limit")
        start = _decode_cursor(args.get("cursor"))
        page = records[start : start + limit]
        with_metadata = _flag(args, "include_all_metadata")
        answer: Json = {
            "messages": [self._api_message(r, with_metadata=with_metadata) for r in page],
            "has_more": start + limit < len(records),
        }
        if answer["has_more"]:
            answer["response_metadata"] = {"next_cursor": _encode_cursor(start + limit)}
        return answer

    def _api_channel(self, channel: _Channel) -> Json:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.id.startswith("C"),
            "is_private": channel.is_private,
            "is_member": channel.bot_is_member,
            "is_archived": False,
            "created": channel.created,
        }

    def _save_view(
        self, method: str, view: Json, *, view_id: str | None = None, **targets: Any
    ) -> Json:
        view_id = view_id or self._new_id("V")
        stored = {
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "root_view_id": view_id,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        }
        self._views_by_id[view_id] = stored
        self._views.append({"method": method, "view_id": view_id, "view": view, **targets})
        return copy.deepcopy(stored)


# -------------------------------------------------------------------- argument parsing


def _text_arg(args: Json, name: str = "text") -> str:
    value = args.get(name)
    return "" if value is None else str(value)


def _required(args: Json, name: str) -> str:
    value = args.get(name)
    if not value:
        raise _SlackError("invalid_arguments", [f"[ERROR] missing required field: {name}"])
    return str(value)


def _flag(args: Json, name: str) -> bool:
    # JSON bodies carry booleans; form bodies carry "1"/"true" (slack_sdk sends "1").
    return args.get(name) in (True, 1, "1", "true", "True")


def _json_arg(args: Json, name: str, error: str) -> Any:
    """A structured argument: already parsed in JSON bodies, a JSON string in form bodies."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise _SlackError(error) from None
    return value


def _blocks_arg(args: Json) -> list[Json]:
    blocks = _json_arg(args, "blocks", "invalid_blocks_format")
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        raise _SlackError("invalid_blocks_format")
    problems = _block_problems(blocks, MAX_MESSAGE_BLOCKS)
    if problems:
        raise _SlackError("invalid_blocks", problems)
    return blocks


def _checked_text(args: Json) -> str:
    text = _text_arg(args)
    if len(text) > MAX_TEXT_CHARS:
        raise _SlackError("msg_too_long")
    return text


def _message_content(args: Json) -> tuple[str, list[Json]]:
    """Validated (text, blocks) of a new message."""
    text, blocks = _checked_text(args), _blocks_arg(args)
    if not text and not blocks:
        raise _SlackError("no_text")
    return text, blocks


def _metadata_arg(args: Json) -> Json | None:
    metadata = _json_arg(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        raise _SlackError("invalid_metadata_format")
    return metadata


def _view_arg(args: Json, *allowed_types: str) -> Json:
    view = _json_arg(args, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise _SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
    if view.get("type") not in allowed_types:
        kinds = " or ".join(allowed_types)
        raise _SlackError("invalid_arguments", [f"[ERROR] view type must be {kinds}"])
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise _SlackError("invalid_arguments", ["[ERROR] missing required field: blocks"])
    problems = _block_problems(blocks, MAX_VIEW_BLOCKS, pointer="/view/blocks")
    if view["type"] == "modal":
        problems += _text_problems(view.get("title"), "/view/title", MAX_MODAL_TITLE, plain=True)
        for name in ("submit", "close"):
            if view.get(name) is not None:
                problems += _text_problems(view[name], f"/view/{name}", MAX_MODAL_TITLE, plain=True)
    if problems:
        raise _SlackError("invalid_arguments", problems)
    return view


def _ts_bound(args: Json, name: str, error: str) -> Decimal | None:
    value = args.get(name)
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _SlackError(error) from None


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: object) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(str(cursor)).decode().partition(":")
        if kind == "offset":
            return int(offset)
    except ValueError:  # bad base64, bad UTF-8 and bad integers all land here
        pass
    raise _SlackError("invalid_cursor")


# -------------------------------------------------------------------- Block Kit limits


def _block_problems(blocks: list[Any], max_blocks: int, *, pointer: str = "/blocks") -> list[str]:
    """Slack-style ``[ERROR] ... [json-pointer:...]`` lines for every limit the blocks break.

    Covers the block count, block_id length and uniqueness, and the section, header, context
    and actions limits. Unknown block types pass, so newer Block Kit additions are not refused.
    """
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
                problems.append(_too_long(MAX_BLOCK_ID, f"{where}/block_id"))
            elif block_id in block_ids:
                problems.append(f"[ERROR] duplicate block_id {block_id} [json-pointer:{where}]")
            block_ids.add(str(block_id))
        check = _BLOCK_CHECKS.get(block["type"])
        if check is not None:
            problems += check(block, where)
    return problems


def _too_long(limit: int, where: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}]"


def _text_problems(obj: object, where: str, max_chars: int, *, plain: bool = False) -> list[str]:
    types = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in types:
        return [f"[ERROR] must be a {' or '.join(types)} text object [json-pointer:{where}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > max_chars:
        return [_too_long(max_chars, f"{where}/text")]
    return []


def _section_problems(block: Json, where: str) -> list[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        return [f"[ERROR] must provide either text or fields [json-pointer:{where}]"]
    problems = [] if text is None else _text_problems(text, f"{where}/text", MAX_SECTION_TEXT)
    problems += _element_problems(block.get("accessory"), f"{where}/accessory")
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
            limit = MAX_SECTION_FIELDS
            problems.append(
                f"[ERROR] no more than {limit} items allowed [json-pointer:{where}/fields]"
            )
        else:
            for index, item in enumerate(fields):
                problems += _text_problems(item, f"{where}/fields/{index}", MAX_FIELD_TEXT)
    return problems


def _element_problems(element: object, where: str) -> list[str]:
    """The limits of an interactive element's texts: a button's, a select's options and
    placeholder, a confirmation dialog's."""
    if not isinstance(element, dict):
        return []
    problems = []
    if element.get("type") == "button":
        problems += _text_problems(
            element.get("text"), f"{where}/text", MAX_BUTTON_TEXT, plain=True
        )
    if element.get("placeholder") is not None:
        problems += _text_problems(
            element["placeholder"], f"{where}/placeholder", MAX_PLACEHOLDER, plain=True
        )
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    for index, option in enumerate(options):
        at = f"{where}/options/{index}"
        problems += _text_problems((option or {}).get("text"), f"{at}/text", MAX_OPTION_TEXT)
        if (option or {}).get("description") is not None:
            problems += _text_problems(
                option["description"], f"{at}/description", MAX_OPTION_TEXT, plain=True
            )
    confirm = element.get("confirm")
    if isinstance(confirm, dict):
        at = f"{where}/confirm"
        problems += _text_problems(
            confirm.get("title"), f"{at}/title", MAX_CONFIRM_TITLE, plain=True
        )
        problems += _text_problems(confirm.get("text"), f"{at}/text", MAX_CONFIRM_TEXT)
        for name in ("confirm", "deny"):
            if confirm.get(name) is not None:
                problems += _text_problems(
                    confirm[name], f"{at}/{name}", MAX_CONFIRM_BUTTON, plain=True
                )
    return problems


def _input_problems(block: Json, where: str) -> list[str]:
    problems = _text_problems(block.get("label"), f"{where}/label", MAX_LABEL, plain=True)
    if block.get("hint") is not None:
        problems += _text_problems(block["hint"], f"{where}/hint", MAX_LABEL, plain=True)
    return problems + _element_problems(block.get("element"), f"{where}/element")


def _header_problems(block: Json, where: str) -> list[str]:
    return _text_problems(block.get("text"), f"{where}/text", MAX_HEADER_TEXT, plain=True)


def _elements_check(limit: int) -> Callable[[Json, str], list[str]]:
    def check(block: Json, where: str) -> list[str]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return [f"[ERROR] must provide at least 1 item [json-pointer:{where}/elements]"]
        if len(elements) > limit:
            return [f"[ERROR] no more than {limit} items allowed [json-pointer:{where}/elements]"]
        return [
            problem
            for index, element in enumerate(elements)
            for problem in _element_problems(element, f"{where}/elements/{index}")
        ]

    return check


_BLOCK_CHECKS: dict[str, Callable[[Json, str], list[str]]] = {
    "section": _section_problems,
    "header": _header_problems,
    "context": _elements_check(MAX_CONTEXT_ELEMENTS),
    "actions": _elements_check(MAX_ACTIONS_ELEMENTS),
    "input": _input_problems,
}


# -------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that, on the way down, lets requests being answered finish and then
    wakes the handler threads parked on idle keep-alive sockets."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._answering = 0
        self._state = threading.Condition()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-answer (a closed tab's long-poll of the page) is no error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._state:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._state:
            self._connections.discard(request)
        super().shutdown_request(request)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Mark one request as being answered, so drop_connections() waits for it."""
        with self._state:
            self._answering += 1
        try:
            yield
        finally:
            with self._state:
                self._answering -= 1
                self._state.notify_all()

    def drop_connections(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for requests being answered, then shut down every open
        client socket so server_close() can join their threads promptly."""
        with self._state:
            self._state.wait_for(lambda: self._answering == 0, grace)
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Routes ``/api/{method}``, ``/_response/{id}``, ``/_upload/{file_id}`` and
    ``/_control/{name}`` to the FakeSlack behind the server."""

    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    timeout = 60  # an idle keep-alive client cannot pin a thread forever
    server: _Server

    def do_GET(self) -> None:
        if (
            urlsplit(self.path).path.startswith("/link/")
            and "websocket" in (self.headers.get("Upgrade") or "").lower()
        ):
            self._socket_mode()
            return
        self._route("GET")

    def _socket_mode(self) -> None:
        """Upgrade to a Socket Mode WebSocket, if the ticket is one apps.connections.open
        handed out (once), and serve it on this thread until the client goes."""
        ticket = _form_fields(urlsplit(self.path).query).get("ticket", "")
        key = self.headers.get("Sec-WebSocket-Key") or ""
        socket_mode = self.server.fake.socket_mode
        self.close_connection = True
        if not key or not socket_mode.accepts(ticket):
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        self.end_headers()
        self.wfile.flush()
        socket_mode.serve(self.connection, ticket)

    def do_POST(self) -> None:
        self._route("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: tests and the standalone console print what matters themselves."""

    def _route(self, verb: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send(_Reply.error("invalid_content_length", status=400))
            return
        # Read before counting as answered: stop() need not wait for a body never sent.
        body = self.rfile.read(length)
        with self.server.answering():
            try:
                reply = self._dispatch(verb, body)
            except Exception as exc:  # a bug in the fake must fail the test loudly, not hang it
                traceback.print_exc()
                reply = _Reply.error(f"fake_slack_crashed: {exc!r}", status=500)
            section, _, method = urlsplit(self.path).path.lstrip("/").partition("/")
            if section == "api" and self.server.fake._answer_lost(method):
                self.close_connection = True  # done, and the client hears nothing back
                return
            self._send(reply)

    def _dispatch(self, verb: str, body: bytes) -> _Reply:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = _form_fields(url.query)
        section, _, rest = url.path.lstrip("/").partition("/")
        if fake.page is not None and not is_loopback_host(self.headers.get("Host", "")):
            # Serving a browser, the fake refuses any other name for itself: a web page
            # elsewhere cannot rebind a name of its own to this port and read the workspace.
            return _Reply.error("not_this_computer", status=403)
        if section == "api" and rest:
            try:
                args = {**query, **_body_fields(body, self.headers.get("Content-Type", ""))}
            except _SlackError as err:
                return _Reply.error(err.error)
            headers = {name.lower(): value for name, value in self.headers.items()}
            return fake._handle_api(rest, args, headers)
        if section == "_response" and verb == "POST":
            return fake._handle_response_url(rest, body)
        if section == "_upload" and verb == "POST":
            return fake._handle_upload(rest, body)
        if section == "_control":
            return fake._handle_control(verb, rest, query, body)
        if section == "files-pri" and verb == "GET":
            return fake._handle_file_download(rest, self.headers.get("Authorization", ""))
        if section == "sandbox" and fake.page is not None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, page_headers, payload = fake.page.serve(
                verb, url.path, url.query, headers, body
            )
            return _Reply(status, payload, page_headers)
        if section == "" and verb == "GET":
            if fake.page is not None:
                return _Reply(302, b"", {"Location": "/sandbox/"})
            return _Reply(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        return _Reply.error("not_found", status=404)

    def _send(self, reply: _Reply) -> None:
        if isinstance(reply.body, bytes):
            content_type, payload = "application/octet-stream", reply.body
        elif isinstance(reply.body, str):
            content_type, payload = "text/plain; charset=utf-8", reply.body.encode()
        else:
            content_type, payload = (
                "application/json; charset=utf-8",
                json.dumps(reply.body).encode(),
            )
        headers = dict(reply.headers)
        content_type = headers.pop("Content-Type", content_type)
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _form_fields(text: str) -> Json:
    return {name: values[-1] for name, values in parse_qs(text, keep_blank_values=True).items()}


def _body_fields(body: bytes, content_type: str) -> Json:
    """Arguments from a JSON or form-urlencoded body, the two encodings slack_sdk uses."""
    if not body:
        return {}
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _SlackError("invalid_json") from None
        if not isinstance(fields, dict):
            raise _SlackError("invalid_json")
        return fields
    if media_type == "multipart/form-data":
        raise _SlackError("invalid_form_data")  # only the legacy files.upload sends multipart
    try:
        return _form_fields(body.decode())
    except UnicodeDecodeError:
        raise _SlackError("invalid_form_data") from None


# -------------------------------------------------------------------- inbound request helpers


def signed_headers(
    signing_secret: str, body: str | bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for an inbound request body,
    computed as Slack does: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(signing_secret.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def command_body(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str,
    team_id: str,
    response_url: str,
    trigger_id: str = "T.1",
) -> str:
    """A form-urlencoded slash-command request body, as Slack POSTs it to the app: the
    `text` as typed, with Slack's own links and mentions (``<#C123|name>``, ``<@U123>``)
    kept and the person's ``&``, ``<`` and ``>`` escaped, as Slack escapes them."""
    return urlencode(
        {
            "command": command,
            "text": slack_escaped(text),
            "team_id": team_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


_SLACK_TOKEN = re.compile(r"<[#@!][^<>]*>|<https?://[^<>]*>")


_TYPED_LINK = re.compile(r"https?://[^\s<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def slack_escaped(text: str) -> str:
    """Typed text as Slack sends it: a web or e-mail address made a link, and ``&``,
    ``<`` and ``>`` escaped, outside its own tokens."""
    parts = []
    at = 0
    for token in _SLACK_TOKEN.finditer(text):
        parts.append(_escaped(text[at : token.start()]))
        parts.append(token.group(0))
        at = token.end()
    parts.append(_escaped(text[at:]))
    return "".join(parts)


def _escaped(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _TYPED_LINK.sub(_linked, escaped)


def _linked(found: re.Match[str]) -> str:
    address = found.group(0)
    if "://" in address:
        return f"<{address}>"
    return f"<mailto:{address}|{address}>"


def action_body(payload: dict[str, Any]) -> str:
    """An interactivity request body: ``payload=`` followed by the url-encoded JSON payload."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team_id: str, api_app_id: str = APP_ID) -> str:
    """An Events API ``event_callback`` envelope (JSON) around ``event``."""
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": team_id,
            "api_app_id": api_app_id,
            "event": event,
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
        }
    )


# -------------------------------------------------------------------- standalone server


def describe(kind: str, record: Json) -> str:
    """One console line for a listener event: where it went, its text and its block texts."""
    place = record.get("channel") or "response_url"
    if kind == "ephemeral":
        place += f" (to {record['user']})"
    if record.get("thread_ts"):
        place += f" thread {record['thread_ts']}"
    if record.get("ts"):
        place += f" ts {record['ts']}"
    parts = [_text_arg(record), *_block_texts(record.get("blocks") or [])]
    parts += [f"[file {f['name']}, {f['size']} bytes]" for f in record.get("files") or []]
    shown = " | ".join(part.replace("\n", " ⏎ ") for part in parts if part)
    return f"{kind:<9} {place}: {shown or '(empty)'}"


def _block_texts(blocks: list[Any]) -> list[str]:
    """The readable texts of section, header and context blocks, in order."""
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        objects = [block.get("text"), *(block.get("fields") or [])]
        if block.get("type") == "context":
            objects += block.get("elements") or []
        texts += [
            o["text"] for o in objects if isinstance(o, dict) and isinstance(o.get("text"), str)
        ]
    return texts


def _channel_spec(value: str) -> tuple[str, str]:
    channel_id, sep, name = value.partition(":")
    if not sep or not channel_id or not name:
        raise argparse.ArgumentTypeError(f"expected ID:NAME such as C0BRAND:x-brand, got {value!r}")
    return channel_id, name


def main(argv: list[str] | None = None) -> None:
    """Serve a fake Slack in the foreground, printing each message as it arrives, until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.slack_api",
        description="A fake Slack Web API for running Roost locally. Stop with Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082, help="0 picks a free port")
    parser.add_argument(
        "--channel",
        action="append",
        type=_channel_spec,
        metavar="ID:NAME",
        help="a channel the bot is in; repeatable (default C0BRAND:x-brand)",
    )
    options = parser.parse_args(argv)
    channels = options.channel or [("C0BRAND", "x-brand")]
    fake = FakeSlack(host=options.host, port=options.port)
    for channel_id, name in channels:
        fake.add_channel(channel_id, name)
    fake.subscribe(lambda kind, record: print(describe(kind, record), flush=True))
    # Ctrl-C may come while the set-up is still being printed: it stops the fake all the same.
    with fake, contextlib.suppress(KeyboardInterrupt):
        print(f"SLACK_API_URL={fake.url}")
        print(f"SLACK_BOT_TOKEN={fake.bot_token}")
        print(f"SLACK_SIGNING_SECRET={fake.signing_secret}")
        for channel_id, name in channels:
            print(f"channel {channel_id} #{name}")
        print("Fake Slack is up; messages appear below. Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()

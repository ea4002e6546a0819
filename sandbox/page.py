"""The sandbox's web page: Slack for Roost in a browser, for a person with neither Slack nor X.

Served by the FakeSlack's own HTTP server under ``/sandbox/`` (see ``attach``). The browser
shows what the fakes hold and asks this module to act as Slack would: a click becomes a
signed ``block_actions`` request to Roost's ``/slack/events``, a modal's submit a
``view_submission`` whose answer (``response_action``) is applied as Slack applies it, a typed
``/roost`` a signed slash command, a typed message a signed ``message`` event, opening the
App Home a signed ``app_home_opened``. What Roost sends back through a response_url lands
where Slack would put it.

The server never builds HTML from data: the page is a static file, and everything else is
JSON the browser puts into the DOM as text.
"""

from __future__ import annotations

import functools
import hashlib
import html
import io
import itertools
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sandbox.slack_api import (
    APP_ID,
    FakeSlack,
    action_body,
    command_body,
    event_body,
    signed_headers,
)
from sandbox.x_api import FakeX

if TYPE_CHECKING:
    from sandbox.scenario import Replay, Scenario

logger = logging.getLogger(__name__)

Json = dict[str, Any]

STATIC_DIR = Path(__file__).with_name("static")
LONG_POLL_SECONDS = 20.0
"""How long /state waits for a change before answering the same state again."""
SCENARIO_POLL_SECONDS = 1.0
"""How often /state looks again while a replay runs: a replay's progress changes no fake."""
ROOST_TIMEOUT = 10.0
"""How long a request to Roost may take; Slack gives up after 3 s, but a loaded machine
running the sandbox should show Roost's answer rather than a timeout."""
MAX_REQUEST_BYTES = 64 * 1024
"""The largest request the page's API takes; Slack's own inputs are far smaller."""
TIMELINE_LENGTH = 200
"""Posts shown per brand: the newest."""
NOTICES_KEPT = 50
SPEEDS = (1.0, 10.0, 60.0)
FORM = "application/x-www-form-urlencoded"

# The switches for what X can do, held on the FakeX until switched off.
UNTIL_SWITCHED_OFF = 1_000_000_000
"""Faults a switch arms: more calls than a sandbox session makes."""
X_PATHS = "/2/"
RATE_LIMIT_RESET_SECONDS = 30
OUTAGE_STATUS = 503
SWITCHES = ("rate_limit", "revoked", "outage")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
MAX_NAME = 50
"""X's longest display name."""
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}
"""Uploaded files the page shows as pictures, by their name's ending."""
JSON = "application/json"
REMEMBERED = 500
"""How many trigger_ids, response_urls and ephemerals the page keeps: far more than a
person has in play (a trigger_id lives 3 s, a response_url 30 minutes), and a bound on
what a long session holds."""
HANGUL_FONTS = {"hangul.ttf": "NanumGothic.ttf", "hangul-bold.ttf": "NanumGothicBold.ttf"}
"""The page's Hangul faces (sandbox.css), by the name the page asks for."""

_COTAG = re.compile(r"\s(\^[A-Za-z0-9]{1,10})$")
_TYPED_MENTION = re.compile(r"(?<![<\w])@([\w.-]+)")


class BadRequest(ValueError):
    """Input the page refuses, with a sentence the person can act on (HTTP 400)."""


@dataclass(frozen=True)
class Elsewhere:
    """A brand's account on another network the page's form can mention: `value` names it
    in the form, `label` shows it, and `post(author, name, text)` posts a customer's mention
    of it there (the customer made on first use); the post's id."""

    value: str
    label: str
    post: Callable[[str, str | None, str], str]


@dataclass(frozen=True)
class _Origin:
    """Where a response_url's posts belong: who acted, in which channel, from which message
    (a channel message's ts, or one of the page's ephemerals), or from a command (neither)."""

    user: str
    channel: str
    message_ts: str | None = None
    ephemeral_id: int | None = None


def attach(
    slack: FakeSlack,
    x: FakeX,
    *,
    events_url: str,
    people: list[str],
    brands: list[str],
    scenarios: list[Scenario] | None = None,
    elsewhere: Sequence[Elsewhere] = (),
) -> Page:
    """Serve the page at ``slack.base_url + "/sandbox/"`` for `people` (Slack user ids seeded
    in `slack`, the first shown by default) working the X accounts `brands` (and the brand's
    accounts `elsewhere`), with Roost's Slack requests going to `events_url`."""
    if not people:
        raise ValueError("the page needs at least one person to act as")
    page = Page(
        slack,
        x,
        events_url=events_url,
        people=people,
        brands=brands,
        scenarios=scenarios,
        elsewhere=elsewhere,
    )
    slack.page = page
    # The fonts made ready now, not on the first Korean page (the bold face is 4 MB).
    threading.Thread(target=_ready_fonts, name="sandbox-fonts", daemon=True).start()
    return page


class Page:
    """The page's server side: what it shows and how a person's acts become Slack's requests.

    Modal stacks and Homes are tracked per person from the views the FakeSlack saw (a view
    opened with a trigger_id the page issued belongs to whoever the trigger was for).
    """

    def __init__(
        self,
        slack: FakeSlack,
        x: FakeX,
        *,
        events_url: str,
        people: list[str],
        brands: list[str],
        scenarios: list[Scenario] | None = None,
        elsewhere: Sequence[Elsewhere] = (),
    ) -> None:
        self.slack = slack
        self.x = x
        self.elsewhere = {account.value: account for account in elsewhere}
        self.events_url = events_url
        self.people = list(people)
        self.brands = list(brands)
        self.scenarios = {scenario.name: scenario for scenario in scenarios or []}
        self._lock = threading.RLock()
        self._triggers: dict[str, str] = {}  # trigger_id -> the person it was issued for
        self._stacks: dict[str, list[str]] = {}  # person -> open modal view ids, bottom first
        self._homes: dict[str, str] = {}  # person -> their published Home's view id
        self._errors: dict[str, dict[str, str]] = {}  # view id -> block_id -> error
        self._origins: dict[str, _Origin] = {}  # response_url -> where its posts go
        self._ephemerals: list[Json] = []
        self._replaced: dict[tuple[str, str], Json] = {}  # (channel, ts) -> replace_original
        self._notices: list[Json] = []
        self._replays: dict[str, tuple[Replay, float]] = {}
        self._seen_views = self._seen_ephemerals = self._seen_responses = 0
        self._numbers = itertools.count(1)
        # Long-polls wait on this; the fakes' watchers tick it on every change.
        self._wake = threading.Condition(threading.Lock())
        self._ticks = 0
        self._versions = itertools.count(1)
        self._shown: dict[str, tuple[str, int]] = {}  # person -> (state's digest, version)
        slack.watch(self._tick)
        x.watch(self._tick)

    # ---------------------------------------------------------------- HTTP

    def serve(
        self, verb: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request under /sandbox/: (status, headers, body). The FakeSlack has
        already refused any Host that is not this computer."""
        try:
            if verb == "GET":
                return self._get(path, parse_qs(query))
            if verb == "POST" and path.startswith("/sandbox/api/"):
                return self._json(
                    200, self._post(path.removeprefix("/sandbox/api/"), headers, body)
                )
        except BadRequest as problem:
            return self._json(400, {"error": str(problem)})
        except (TypeError, KeyError, AttributeError) as problem:
            # A field of another kind than asked for (a list for a name, say): refused as the
            # rest, not a crash of the fake in the person's terminal.
            logger.debug("malformed %s %s: %r", verb, path, problem)
            return self._json(400, {"error": "A field of the request is not of the kind asked."})
        return self._json(404, {"error": f"Nothing at {verb} {path}."})

    def _get(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if path == "/sandbox":
            return 302, {"Location": "/sandbox/", **SECURITY_HEADERS}, b""
        if path == "/sandbox/":
            return self._static("index.html")
        if path.startswith("/sandbox/static/"):
            return self._static(path.removeprefix("/sandbox/static/"))
        if path == "/sandbox/api/file":
            return self._file((query.get("id") or [""])[-1])
        if path.startswith("/sandbox/font/"):
            return self._hangul_font(path.removeprefix("/sandbox/font/"))
        if path == "/sandbox/api/state":
            person = self._person((query.get("as") or [""])[-1] or self.people[0])
            try:
                since = int((query.get("since") or ["0"])[-1])
            except ValueError:
                raise BadRequest("since must be a number: the version the page last saw.") from None
            return self._json(200, self.state(person, since=since))
        return self._json(404, {"error": f"Nothing at {path}."})

    def _static(self, name: str) -> tuple[int, dict[str, str], bytes]:
        # Only the files that are there, by plain name: no path reaches outside the folder.
        served = {path.name: path for path in STATIC_DIR.iterdir() if path.is_file()}
        file = served.get(name)
        if file is None or file.suffix not in CONTENT_TYPES:
            return self._json(404, {"error": f"No file {name!r}."})
        headers = {"Content-Type": CONTENT_TYPES[file.suffix], **SECURITY_HEADERS}
        return 200, headers, file.read_bytes()

    def _file(self, file_id: str) -> tuple[int, dict[str, str], bytes]:
        """An image Roost uploaded (a digest's or /roost stats' chart), to show in its message."""
        found = self.slack.file_content(file_id)
        if found is None:
            return self._json(404, {"error": f"No file {file_id!r}."})
        name, content = found
        kind = IMAGE_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
        return 200, {"Content-Type": kind, **SECURITY_HEADERS}, content

    def _hangul_font(self, name: str) -> tuple[int, dict[str, str], bytes]:
        """NanumGothic, which installs with Roost: the page draws Hangul on a machine with no
        Korean font of its own, as the charts do."""
        found = _font_file(HANGUL_FONTS.get(name))
        if found is None:
            return self._json(404, {"error": f"No font {name!r} is installed with Roost."})
        return 200, {"Content-Type": "font/ttf", **SECURITY_HEADERS}, _web_font(found)

    @staticmethod
    def _json(status: int, answer: Json) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json; charset=utf-8", **SECURITY_HEADERS}
        return status, headers, json.dumps(answer).encode()

    def _post(self, name: str, headers: dict[str, str], body: bytes) -> Json:
        # JSON only: a form posted by another site cannot be JSON without a CORS preflight,
        # which this server never grants.
        if headers.get("content-type", "").partition(";")[0].strip() != "application/json":
            raise BadRequest("Send JSON (Content-Type: application/json).")
        if len(body) > MAX_REQUEST_BYTES:
            raise BadRequest(f"The request is over {MAX_REQUEST_BYTES} bytes.")
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadRequest("The request is not valid JSON.") from None
        if not isinstance(request, dict):
            raise BadRequest("The request must be a JSON object.")
        actions = {
            "action": self.act,
            "submit": self.submit,
            "close": self.close,
            "command": self.command,
            "message": self.message,
            "x/mention": self.post_mention,
            "x/switch": self.switch,
            "scenario": self.scenario,
            "home": self.open_home,
        }
        action = actions.get(name)
        if action is None:
            raise BadRequest(f"There is no {name!r} to do.")
        return action(request)

    # ---------------------------------------------------------------- state

    def _tick(self) -> None:
        """Called by the fakes under their locks: only wake the long-polls."""
        with self._wake:
            self._ticks += 1
            self._wake.notify_all()

    def state(self, person: str, *, since: int = 0) -> Json:
        """Everything the page shows `person`, once it differs from version `since` (or
        after LONG_POLL_SECONDS, or when the FakeSlack stops)."""
        deadline = time.monotonic() + LONG_POLL_SECONDS
        while True:
            with self._wake:
                ticks = self._ticks
            shown = self._snapshot(person)
            digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()
            with self._lock:
                last = self._shown.get(person)
                if last is None or last[0] != digest:
                    last = self._shown[person] = (digest, next(self._versions))
                version = last[1]
                replaying = any(not replay.done for replay, _ in self._replays.values())
            left = deadline - time.monotonic()
            if version != since or left <= 0 or self.slack.stopping:
                return {"version": version, **shown}
            wait = min(left, SCENARIO_POLL_SECONDS) if replaying else left
            self._wait_past(ticks, wait)

    def _wait_past(self, ticks: int, seconds: float) -> None:
        with self._wake:
            self._wake.wait_for(lambda: self._ticks != ticks, seconds)

    def _snapshot(self, person: str) -> Json:
        self._sync()
        with self._lock:
            modals = [
                {**self.slack.open_view(view_id), "errors": self._errors.get(view_id, {})}
                for view_id in self._stacks.get(person, [])
                if self.slack.has_view(view_id)
            ]
            home_id = self._homes.get(person)
            ephemerals = [e for e in self._ephemerals if e["user"] == person or e.get("in_channel")]
            notices = [n for n in self._notices if n["user"] == person]
            replays = {name: (r.sent, r.total, r.done, s) for name, (r, s) in self._replays.items()}
        return {
            "you": person,
            "people": self.people,
            "team": {"id": self.slack.team_id, "bot_user_id": self.slack.bot_user_id},
            "users": [
                {
                    "id": user["id"],
                    "name": user["name"],
                    "real_name": user["real_name"],
                    "is_bot": user["is_bot"],
                }
                for user in self.slack.users
            ],
            "channels": self._channels(person),
            "ephemerals": ephemerals,
            "modals": modals,
            "home": self._home(home_id),
            "notices": notices,
            "x": self._x_state(),
            "scenarios": [
                self._scenario_state(scenario, replays.get(name))
                for name, scenario in self.scenarios.items()
            ],
            "speeds": list(SPEEDS),
        }

    @staticmethod
    def _scenario_state(scenario: Scenario, replay: tuple[int, int, bool, float] | None) -> Json:
        """A scenario and how far its replay got (never started: none of it)."""
        sent, total, done, speed = replay or (0, len(scenario.entries), False, None)
        return {
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
            "running": replay is not None and not done,
            "sent": sent,
            "total": total,
            "done": done,
            "speed": speed,
        }

    def _home(self, view_id: str | None) -> Json | None:
        if view_id is None or not self.slack.has_view(view_id):
            return None
        return self.slack.open_view(view_id)

    def _channels(self, person: str) -> list[Json]:
        """Public and private channels, and the person's own DM with the bot; each with its
        top-level messages, their thread replies inside."""
        own_dm = "D" + person[1:]
        shown = []
        for channel in self.slack.channels:
            if channel["id"].startswith("D") and channel["id"] != own_dm:
                continue
            top: list[Json] = []
            by_ts: dict[str, Json] = {}
            for record in self.slack.messages(channel["id"]):
                message = self._shown_message(record)
                if message is None:
                    continue
                parent = by_ts.get(record.get("thread_ts", ""))
                if parent is not None and record["thread_ts"] != record["ts"]:
                    parent["replies"].append(message)
                    if not record.get("reply_broadcast"):
                        continue
                by_ts[record["ts"]] = message
                top.append(message)
            shown.append(
                {
                    "id": channel["id"],
                    "name": channel["name"],
                    "is_private": channel["is_private"],
                    "is_im": channel["id"].startswith("D"),
                    "bot_is_member": channel["is_member"],
                    "messages": top,
                }
            )
        return shown

    def _shown_message(self, record: Json) -> Json | None:
        """A message as the page shows it, with any replace_original/delete_original a
        response_url applied (until Roost itself edits the message again)."""
        replaced = self._replaced.get((record["channel"], record["ts"]))
        message: Json = {
            "ts": record["ts"],
            "channel": record["channel"],
            "user": record["user"],
            "text": record["text"],
            "blocks": record["blocks"],
            "edited": record["edits"] > 0,
            "files": [
                {"id": file["id"], "name": file.get("name", ""), "image": _is_image(file)}
                for file in record.get("files", [])
            ],
            "replies": [],
        }
        if "thread_ts" in record:
            message["thread_ts"] = record["thread_ts"]
        if replaced is not None and replaced["edits"] == record["edits"]:
            if replaced.get("deleted"):
                return None
            message.update(text=replaced["text"], blocks=replaced["blocks"], edited=True)
        return message

    def _x_state(self) -> Json:
        brands = []
        customers: set[str] = set()
        for brand in self.brands:
            try:
                brand_id = self.x.user_id(brand)
            except ValueError:
                continue  # not on the fake X (yet)
            timeline: list[Json] = []
            authors: dict[str, str] = {}
            for tweet in self.x.mentions_of(brand):
                author = self._x_username(tweet["author_id"])
                authors[tweet["author_id"]] = author
                entry = _post_entry(tweet["id"], "mention", html.unescape(tweet["text"]), tweet)
                timeline.append({**entry, "author": author})
                if brand_id in self.x.retweeters_of(tweet["id"]):
                    timeline.append(
                        {**entry, "id": f"rt-{tweet['id']}", "kind": "retweet", "author": brand}
                    )
            for post in self.x.posts_by(brand):
                kind = "reply" if post["in_reply_to_tweet_id"] else "post"
                timeline.append(
                    {**_post_entry(post["id"], kind, post["text"], post), "author": brand}
                )
            for author in set(authors.values()) - {brand}:
                customers.add(author)
                for dm in self.x.dms_between(brand, author):
                    entry = _post_entry(dm["id"], "dm", dm.get("text", ""), dm)
                    timeline.append({**entry, "author": brand, "to": author})
            timeline.sort(key=lambda e: (e["created_at"], e["id"]), reverse=True)
            brands.append({"username": brand, "timeline": timeline[:TIMELINE_LENGTH]})
        return {
            "brands": brands,
            "elsewhere": [
                {"value": account.value, "label": account.label}
                for account in self.elsewhere.values()
            ],
            "customers": sorted(customers),
            "switches": {
                "rate_limit": self.x.faulting(X_PATHS, 429),
                "outage": self.x.faulting(X_PATHS, OUTAGE_STATUS),
                "revoked": bool(self.brands) and all(self._refuses(brand) for brand in self.brands),
            },
        }

    def _x_username(self, user_id: str) -> str:
        try:
            return self.x.username(user_id)
        except ValueError:
            return user_id  # deleted from X since

    def _refuses(self, brand: str) -> bool:
        try:
            return self.x.refuses_tokens(brand)
        except ValueError:
            return False

    def _sync(self) -> None:
        """Take in what the FakeSlack saw since last time: views opened, pushed and
        published; ephemerals; response_url posts."""
        with self._lock:
            views = self.slack.views_from(self._seen_views)
            ephemerals = self.slack.ephemerals_from(self._seen_ephemerals)
            responses = self.slack.response_posts(self._seen_responses)
            self._seen_views += len(views)
            self._seen_ephemerals += len(ephemerals)
            self._seen_responses += len(responses)
            for call in views:
                self._take_view(call)
            for ephemeral in ephemerals:
                self._add_ephemeral(ephemeral["user"], ephemeral, channel=ephemeral["channel"])
            for url, payload in responses:
                origin = self._origins.get(url)
                if origin is not None:
                    self._take_response(origin, payload)

    def _take_view(self, call: Json) -> None:
        person = self._triggers.get(call.get("trigger_id", ""))
        if call["method"] == "views.open" and person:
            self._stacks[person] = [call["view_id"]]
        elif call["method"] == "views.push" and person:
            self._stacks.setdefault(person, []).append(call["view_id"])
        elif call["method"] == "views.publish":
            self._homes[call["user_id"]] = call["view_id"]

    def _add_ephemeral(self, person: str, message: Json, *, channel: str) -> Json:
        ephemeral = {
            "id": next(self._numbers),
            "user": person,
            "channel": channel,
            "ts": f"{time.time():.6f}",
            "text": str(message.get("text") or ""),
            "blocks": message.get("blocks") or [],
            "in_channel": message.get("response_type") == "in_channel",
        }
        if message.get("thread_ts"):
            ephemeral["thread_ts"] = message["thread_ts"]
        self._ephemerals.append(ephemeral)
        del self._ephemerals[:-REMEMBERED]
        return ephemeral

    def _take_response(self, origin: _Origin, payload: Json) -> None:
        """A response_url post, applied as Slack applies it (caller holds the lock)."""
        replace = payload.get("replace_original") in (True, "true")
        delete = payload.get("delete_original") in (True, "true")
        if origin.ephemeral_id is not None and (replace or delete):
            for index, ephemeral in enumerate(self._ephemerals):
                if ephemeral["id"] == origin.ephemeral_id:
                    if delete:
                        del self._ephemerals[index]
                    else:
                        ephemeral.update(
                            text=str(payload.get("text") or ""), blocks=payload.get("blocks") or []
                        )
                    return
            return
        if origin.message_ts is not None and (replace or delete):
            try:
                record = self.slack.message(origin.channel, origin.message_ts)
            except KeyError:
                return
            self._replaced[(origin.channel, origin.message_ts)] = {
                "edits": record["edits"],
                "deleted": delete,
                "text": str(payload.get("text") or ""),
                "blocks": payload.get("blocks") or [],
            }
            return
        if not delete:
            self._add_ephemeral(origin.user, payload, channel=origin.channel)

    def _notice(self, person: str, text: str) -> None:
        """Something the person should know that Slack would show as an error banner."""
        with self._lock:
            self._notices.append({"id": next(self._numbers), "user": person, "text": text})
            del self._notices[:-NOTICES_KEPT]
        self._tick()

    # ---------------------------------------------------------------- acting as Slack

    def _person(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.people:
            raise BadRequest(f"Act as one of {', '.join(self.people)}.")
        return value

    def _slack_user(self, person: str) -> Json:
        user = next((u for u in self.slack.users if u["id"] == person), None)
        name = user["name"] if user else person
        return {"id": person, "username": name, "name": name, "team_id": self.slack.team_id}

    def _trigger(self, person: str) -> str:
        trigger_id = self.slack.issue_trigger()
        with self._lock:
            self._triggers[trigger_id] = person
            _forget_oldest(self._triggers)
        return trigger_id

    def _response_url(self, origin: _Origin) -> str:
        url = self.slack.response_url()
        with self._lock:
            self._origins[url] = origin
            _forget_oldest(self._origins)
        return url

    def _send(self, person: str, body: str, content_type: str) -> tuple[int, bytes]:
        """POST a signed request to Roost as Slack does: (status, body); 0 if unreachable."""
        headers = {
            **signed_headers(self.slack.signing_secret, body),
            "Content-Type": content_type,
        }
        request = urllib.request.Request(
            self.events_url, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=ROOST_TIMEOUT) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except (OSError, TimeoutError) as error:
            status, text = 0, str(error).encode()
        self._notice(
            person,
            f"Roost did not take it (HTTP {status or 'unreachable'}): "
            f"{text.decode('utf-8', 'replace')[:300]}",
        )
        return status, text

    def act(self, request: Json) -> Json:
        """A click or a choice in a message, an ephemeral, a modal or the Home."""
        person = self._person(request.get("as"))
        container = request.get("container")
        if not isinstance(container, dict):
            raise BadRequest("Say where the click was: container.")
        blocks, payload = self._container(person, container, request.get("values"))
        element, block_id = _find_element(blocks, request)
        action = _action(element, block_id, request, self.slack)
        payload.update(
            type="block_actions",
            user=self._slack_user(person),
            api_app_id=APP_ID,
            token="",  # the legacy verification token; Roost checks the signature
            team={"id": self.slack.team_id, "domain": "fake"},
            is_enterprise_install=False,
            enterprise=None,
            trigger_id=self._trigger(person),
            actions=[action],
        )
        status, _ = self._send(person, action_body(payload), FORM)
        return {"ok": status == 200, "status": status}

    def _container(self, person: str, container: Json, values: Any) -> tuple[list[Json], Json]:
        """The blocks clicked in and the payload fields Slack sends for that surface."""
        kind = container.get("type")
        state = {"values": _state_values(values)}
        if kind == "view":
            view_id = str(container.get("view_id", ""))
            with self._lock:
                mine = view_id in self._stacks.get(person, []) or view_id == self._homes.get(person)
            if not mine or not self.slack.has_view(view_id):
                raise BadRequest("That view is not open any more.")
            view = self.slack.open_view(view_id)
            view["state"] = state
            return view["blocks"], {"container": {"type": "view", "view_id": view_id}, "view": view}
        channel = str(container.get("channel", ""))
        if kind == "ephemeral":
            with self._lock:
                ephemeral = next(
                    (e for e in self._ephemerals if e["id"] == container.get("id")), None
                )
            if ephemeral is None or (ephemeral["user"] != person and not ephemeral["in_channel"]):
                raise BadRequest("That message is gone.")
            origin = _Origin(person, ephemeral["channel"], ephemeral_id=ephemeral["id"])
            return ephemeral["blocks"], {
                "container": {
                    "type": "message",
                    "message_ts": ephemeral["ts"],
                    "channel_id": ephemeral["channel"],
                    "is_ephemeral": True,
                },
                "channel": {"id": ephemeral["channel"]},
                "state": state,
                "response_url": self._response_url(origin),
            }
        if kind == "message":
            try:
                record = self.slack.message(channel, str(container.get("ts", "")))
            except KeyError:
                raise BadRequest("That message is gone.") from None
            shown = self._shown_message(record)
            if shown is None:
                raise BadRequest("That message is gone.")
            message: Json = {
                "type": "message",
                "user": record["user"],
                "ts": record["ts"],
                "text": shown["text"],
                "blocks": shown["blocks"],
                "team": self.slack.team_id,
            }
            if record["user"] == self.slack.bot_user_id:
                message.update(bot_id="BROOSTBOT", app_id=APP_ID)
            if "thread_ts" in record:
                message["thread_ts"] = record["thread_ts"]
            origin = _Origin(person, channel, message_ts=record["ts"])
            return shown["blocks"], {
                "container": {
                    "type": "message",
                    "message_ts": record["ts"],
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel, "name": self._channel_name(channel)},
                "message": message,
                "state": state,
                "response_url": self._response_url(origin),
            }
        raise BadRequest("container.type is message, ephemeral or view.")

    def _channel_name(self, channel_id: str) -> str:
        found = next((c for c in self.slack.channels if c["id"] == channel_id), None)
        return found["name"] if found else channel_id

    def _top_view(self, person: str, view_id: object) -> str:
        with self._lock:
            stack = self._stacks.get(person, [])
            if not stack or stack[-1] != view_id or not self.slack.has_view(stack[-1]):
                raise BadRequest("That modal is not the one open.")
            return stack[-1]

    def submit(self, request: Json) -> Json:
        """A modal's Submit: the view_submission, then Roost's answer applied as Slack does."""
        person = self._person(request.get("as"))
        view_id = self._top_view(person, request.get("view_id"))
        view = self.slack.open_view(view_id)
        view["state"] = {"values": _state_values(request.get("values"))}
        payload = {
            "type": "view_submission",
            "team": {"id": self.slack.team_id, "domain": "fake"},
            "user": self._slack_user(person),
            "api_app_id": APP_ID,
            "token": "",
            "trigger_id": self._trigger(person),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        status, answer = self._send(person, action_body(payload), FORM)
        if status != 200:
            return {"ok": False, "status": status}
        return {"ok": True, **self._apply_answer(person, view_id, answer)}

    def _apply_answer(self, person: str, view_id: str, answer: bytes) -> Json:
        """Slack's reading of a view_submission's answer: empty closes the view; else a
        ``response_action`` of errors, update, push or clear."""
        try:
            reply = json.loads(answer) if answer.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            reply = None
        if not isinstance(reply, dict):
            self._notice(person, "Roost answered the submission with something Slack refuses.")
            return {"response_action": "invalid"}
        action = reply.get("response_action")
        with self._lock:
            self._errors.pop(view_id, None)
            stack = self._stacks.setdefault(person, [])
            try:
                if action == "errors":
                    errors = reply.get("errors")
                    self._errors[view_id] = {str(k): str(v) for k, v in (errors or {}).items()}
                elif action == "update":
                    self.slack.adopt_view(reply.get("view") or {}, view_id=view_id)
                elif action == "push":
                    stack.append(self.slack.adopt_view(reply.get("view") or {})["id"])
                elif action == "clear":
                    self._close(stack, len(stack))
                elif action is None:
                    self._close(stack, 1)
                else:
                    raise ValueError(f"unknown response_action {action!r}")
            except ValueError as problem:
                self._notice(person, f"Slack would refuse Roost's answer: {problem}")
                return {"response_action": "invalid"}
        self._tick()
        return {"response_action": action or "close"}

    def _close(self, stack: list[str], count: int) -> None:
        for _ in range(min(count, len(stack))):
            view_id = stack.pop()
            if self.slack.has_view(view_id):
                self.slack.close_view(view_id)

    def close(self, request: Json) -> Json:
        """The modal's Cancel (or ×): the top view closes; Roost hears ``view_closed`` if it
        asked to (notify_on_close)."""
        person = self._person(request.get("as"))
        view_id = self._top_view(person, request.get("view_id"))
        view = self.slack.open_view(view_id)
        with self._lock:
            self._close(self._stacks.setdefault(person, []), 1)
            self._errors.pop(view_id, None)
        if view.get("notify_on_close"):
            view["state"] = {"values": _state_values(request.get("values"))}
            payload = {
                "type": "view_closed",
                "team": {"id": self.slack.team_id, "domain": "fake"},
                "user": self._slack_user(person),
                "api_app_id": APP_ID,
                "token": "",
                "view": view,
                "is_cleared": False,
                "is_enterprise_install": False,
            }
            self._send(person, action_body(payload), FORM)
        return {"ok": True}

    def command(self, request: Json) -> Json:
        """``/roost …`` typed in a channel: Roost's immediate answer shown only to the person,
        like anything that comes to the command's response_url."""
        person = self._person(request.get("as"))
        channel = self._channel(request.get("channel"))
        typed = request.get("text")
        if not isinstance(typed, str) or len(typed) > 4000:
            raise BadRequest("Type the command's text (at most 4,000 characters).")
        command, _, text = typed.strip().partition(" ")
        if command != "/roost":
            raise BadRequest("Only /roost commands reach Roost here: try /roost help.")
        body = command_body(
            "/roost",
            text.strip(),
            user_id=person,
            channel_id=channel,
            team_id=self.slack.team_id,
            response_url=self._response_url(_Origin(person, channel)),
            trigger_id=self._trigger(person),
        )
        status, answer = self._send(person, body, FORM)
        if status == 200 and answer.strip():
            try:
                reply = json.loads(answer)
            except (UnicodeDecodeError, json.JSONDecodeError):
                reply = {"text": answer.decode("utf-8", "replace")}
            if isinstance(reply, dict) and (reply.get("text") or reply.get("blocks")):
                with self._lock:
                    self._add_ephemeral(person, reply, channel=channel)
                self._tick()
        return {"ok": status == 200, "status": status}

    def _channel(self, value: object) -> str:
        known = {c["id"] for c in self.slack.channels}
        if not isinstance(value, str) or value not in known:
            raise BadRequest("Pick a channel the workspace has.")
        return value

    def message(self, request: Json) -> Json:
        """A message the person types in a channel or a thread: stored as theirs, and the
        ``message`` event delivered to Roost."""
        person = self._person(request.get("as"))
        channel = self._channel(request.get("channel"))
        text, thread_ts = request.get("text"), request.get("thread_ts")
        if not isinstance(text, str) or not text.strip() or len(text) > 4000:
            raise BadRequest("Type a message (at most 4,000 characters).")
        if thread_ts is not None and not isinstance(thread_ts, str):
            raise BadRequest("thread_ts is the ts of the thread's first message.")
        try:
            event = self.slack.user_message_event(
                channel, person, self._linked_mentions(text), thread_ts=thread_ts
            )
        except ValueError as problem:
            raise BadRequest(str(problem)) from None
        body = event_body(event, team_id=self.slack.team_id)
        status, _ = self._send(person, body, JSON)
        return {"ok": status == 200, "status": status, "ts": event["ts"]}

    def open_home(self, request: Json) -> Json:
        """The person opened Roost's App Home: Slack's ``app_home_opened`` event, which is
        what has Roost publish (or bring up to date) that person's Home."""
        person = self._person(request.get("as"))
        event = {
            "type": "app_home_opened",
            "user": person,
            "channel": "D" + person[1:],  # the app's DM with the person, as Slack names it
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        status, _ = self._send(person, event_body(event, team_id=self.slack.team_id), JSON)
        return {"ok": status == 200, "status": status}

    def _linked_mentions(self, text: str) -> str:
        """``@name`` of a workspace member as Slack sends it once picked: ``<@U…>``."""
        ids = {user["name"].lower(): user["id"] for user in self.slack.users}

        def linked(found: re.Match[str]) -> str:
            user_id = ids.get(found.group(1).lower())
            return f"<@{user_id}>" if user_id else found.group(0)

        return _TYPED_MENTION.sub(linked, text)

    # ---------------------------------------------------------------- acting as X

    def post_mention(self, request: Json) -> Json:
        """A customer's post mentioning a brand, on the fake X (or, for one of the brand's
        accounts elsewhere, on that network's fake)."""
        brand, author, text = request.get("brand"), request.get("author"), request.get("text")
        name = request.get("name") or None
        elsewhere = self.elsewhere.get(brand) if isinstance(brand, str) else None
        if not isinstance(brand, str) or (brand not in self.brands and elsewhere is None):
            shown = [f"@{b}" for b in self.brands] + [a.label for a in self.elsewhere.values()]
            raise BadRequest(f"Mention one of {', '.join(shown)}.")
        if not isinstance(author, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,15}", author):
            raise BadRequest("A username is 1 to 15 letters, digits or underscores.")
        if author.lower() in (b.lower() for b in self.brands):
            raise BadRequest("Post as a customer, not as a brand account.")
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            raise BadRequest("Write the post's text (at most 1,000 characters).")
        if name is not None and not isinstance(name, str):
            raise BadRequest("A display name is text.")
        if name is not None and len(name) > MAX_NAME:
            raise BadRequest(f"A display name is at most {MAX_NAME} characters.")
        if elsewhere is not None:
            return {"ok": True, "id": elsewhere.post(author, name, text)}
        try:
            self.x.user_id(author)
        except ValueError:
            self.x.add_user(author, name=name)
        tweet = self.x.post_mention(brand, author=author, text=text)
        return {"ok": True, "id": tweet["id"]}

    def switch(self, request: Json) -> Json:
        """Turn one of X's troubles on or off: a rate limit, the brands' revoked access, an
        outage."""
        name, on = request.get("switch"), request.get("on")
        if name not in SWITCHES or not isinstance(on, bool):
            raise BadRequest(f"Switch one of {', '.join(SWITCHES)} with on: true or false.")
        if name == "revoked":
            for brand in self.brands:
                try:
                    self.x.refuse_tokens(brand, on)
                except ValueError:
                    continue  # a brand not on the fake X has no tokens to refuse
            return {"ok": True}
        status = 429 if name == "rate_limit" else OUTAGE_STATUS
        self.x.clear_faults(X_PATHS, status)
        if on:
            reset = RATE_LIMIT_RESET_SECONDS if status == 429 else None
            self.x.fail(X_PATHS, status, times=UNTIL_SWITCHED_OFF, reset_in=reset)
        return {"ok": True}

    def scenario(self, request: Json) -> Json:
        """Start (at a speed) or stop a scenario's replay into the fake X."""
        name, action = request.get("name"), request.get("action")
        if not isinstance(name, str) or name not in self.scenarios:
            raise BadRequest("Pick one of the scenarios listed.")
        if action == "stop":
            with self._lock:
                running = self._replays.get(name)
            if running is not None:
                running[0].stop()
            return {"ok": True}
        speed = request.get("speed")
        if action != "start" or speed not in SPEEDS:
            raise BadRequest("Start a scenario at 1×, 10× or 60×, or stop it.")
        from sandbox.scenario import Replay  # the replayer is needed only once one starts

        with self._lock:
            running = self._replays.get(name)
            if running is not None and not running[0].done:
                raise BadRequest("That scenario is running: stop it first.")
            replay = Replay(self.x, self.scenarios[name], speed=float(speed))
            self._replays[name] = (replay, float(speed))
        replay.start()
        self._tick()
        return {"ok": True}

    def stop(self) -> None:
        """Stop every replay, e.g. when the sandbox shuts down."""
        with self._lock:
            replays = [replay for replay, _ in self._replays.values()]
        for replay in replays:
            replay.stop()


# -------------------------------------------------------------------- payload pieces


def _post_entry(post_id: str, kind: str, text: str, source: Json) -> Json:
    """One line of a brand's X timeline, its CoTag apart so the page can mark it."""
    found = _COTAG.search(text)
    return {
        "id": str(post_id),
        "kind": kind,
        "text": text,
        "cotag": found.group(1) if found else None,
        "created_at": str(source.get("created_at") or ""),
    }


def _find_element(blocks: list[Json], request: Json) -> tuple[Json, str]:
    """The interactive element clicked, found in the blocks Slack holds (never trusting the
    browser for its value), and the block_id Slack reports for it."""
    block_index, action_id = request.get("block_index"), request.get("action_id")
    if not isinstance(block_index, int) or not 0 <= block_index < len(blocks):
        raise BadRequest("block_index names no block there.")
    block = blocks[block_index]
    if request.get("block_id") not in (None, block.get("block_id")):
        raise BadRequest("The block changed since the page showed it; try again.")
    candidates = [*block.get("elements", []), block.get("accessory"), block.get("element")]
    for element in candidates:
        if isinstance(element, dict) and element.get("action_id") == action_id:
            # Slack gives a block without an id one of its own; a stable one here.
            return element, str(block.get("block_id") or f"sandbox-{block_index}")
    raise BadRequest(f"No element {action_id!r} in that block.")


def _option(element: Json, value: object) -> Json:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return option
    raise BadRequest("That option is not offered.")


def _action(element: Json, block_id: str, request: Json, slack: FakeSlack) -> Json:
    """The ``actions[0]`` Slack sends for a click on, or a choice in, `element`."""
    kind = element.get("type")
    action: Json = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    chosen = request.get("value")
    if kind == "button":
        action["text"] = element.get("text")
        if "value" in element:
            action["value"] = element["value"]
        if element.get("style"):
            action["style"] = element["style"]
    elif kind in ("static_select", "overflow", "radio_buttons"):
        action["selected_option"] = _option(element, chosen)
    elif kind in ("multi_static_select", "checkboxes"):
        values = chosen if isinstance(chosen, list) else []
        action["selected_options"] = [_option(element, value) for value in values]
    elif kind == "users_select":
        if not isinstance(chosen, str) or chosen not in {user["id"] for user in slack.users}:
            raise BadRequest("Pick someone in the workspace.")
        action["selected_user"] = chosen
    elif kind == "multi_users_select":
        known = {user["id"] for user in slack.users}
        if not isinstance(chosen, list) or not set(chosen) <= known:
            raise BadRequest("Pick people in the workspace.")
        action["selected_users"] = chosen
    elif kind in ("conversations_select", "channels_select"):
        if chosen not in {channel["id"] for channel in slack.channels}:
            raise BadRequest("Pick a channel the workspace has.")
        action[
            "selected_conversation" if kind == "conversations_select" else "selected_channel"
        ] = chosen
    elif kind == "datepicker":
        if not isinstance(chosen, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", chosen):
            raise BadRequest("Pick a date (YYYY-MM-DD).")
        action["selected_date"] = chosen
    elif kind == "timepicker":
        if not isinstance(chosen, str) or not re.fullmatch(r"\d{2}:\d{2}", chosen):
            raise BadRequest("Pick a time (HH:MM).")
        action["selected_time"] = chosen
    else:
        raise BadRequest(f"The page cannot act on a {kind!r} element.")
    return action


# The state a view's input elements report, by element type: what Slack calls the value.
_VALUE_KEYS = {
    "plain_text_input": "value",
    "url_text_input": "value",
    "email_text_input": "value",
    "number_input": "value",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "checkboxes": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
    "file_input": "files",
}


def _state_values(values: object) -> Json:
    """``state.values`` as Slack reports it, from what the page sends: block_id ->
    action_id -> ``{"type": ..., <its value key>: ...}``; shapes are checked, not trusted."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise BadRequest("values is block_id -> action_id -> the element's state.")
    state: Json = {}
    for block_id, actions in values.items():
        if not isinstance(actions, dict):
            raise BadRequest(f"values[{block_id!r}] must map action_ids to states.")
        for action_id, element in actions.items():
            if not isinstance(element, dict) or element.get("type") not in _VALUE_KEYS:
                raise BadRequest(f"values[{block_id!r}][{action_id!r}] has no known type.")
            key = _VALUE_KEYS[element["type"]]
            reported = {"type": element["type"], key: element.get(key)}
            if key == "selected_option" and element.get(key) is None:
                reported[key] = None
            state.setdefault(str(block_id), {})[str(action_id)] = reported
    return state


def _is_image(file: Json) -> bool:
    return Path(str(file.get("name", ""))).suffix.lower() in IMAGE_TYPES


def _font_file(name: str | None) -> Path | None:
    from bot.digest.charts import korean_font_files

    return next((Path(f) for f in korean_font_files() if Path(f).name == name), None)


def _ready_fonts() -> None:
    for name in HANGUL_FONTS.values():
        found = _font_file(name)
        if found is not None:
            _web_font(found)


@functools.cache
def _web_font(path: Path) -> bytes:
    """The font without its hinting sources (the TSI tables, which Chromium's font checker
    refuses when one is empty, as NanumGothic's TSI3 is): the glyphs are all the page needs."""
    from fontTools.ttLib import TTFont

    font = TTFont(path)
    for tag in [tag for tag in font.keys() if tag.startswith("TSI")]:
        del font[tag]
    kept = io.BytesIO()
    font.save(kept)
    return kept.getvalue()


def _forget_oldest(remembered: dict[str, Any]) -> None:
    while len(remembered) > REMEMBERED:
        del remembered[next(iter(remembered))]

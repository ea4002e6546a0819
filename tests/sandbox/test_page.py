"""The sandbox's page, through real HTTP: served by the FakeSlack, acting on Roost's real
app (served on loopback here) with signed requests, and showing what the fakes hold."""

from __future__ import annotations

import html
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from bot.inbox.cards import ACTION_REPLY
from bot.outbound.reply_modal import TEXT_BLOCK, TEXT_INPUT
from bot.runtime import Runtime
from bot.web import wsgi_app
from sandbox.page import Page, attach
from sandbox.slack_api import FakeSlack
from sandbox.x_api import AUTHORIZE_PATH, FakeX
from storage.models import Account
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, SIGNING_SECRET, run_jobs, wait_for
from tests.handlers.signed import make_app

STATIC = Path(__file__).resolve().parents[2] / "sandbox" / "static"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the tests say what matters."""


@pytest.fixture
def roost(rt: Runtime, fake_slack: FakeSlack) -> Iterator[str]:
    """Roost's real Slack endpoint (the `web` process's WSGI app) on a loopback port."""
    server = make_server(
        "127.0.0.1",
        0,
        wsgi_app(rt, make_app(rt)),
        server_class=_ThreadingWSGIServer,
        handler_class=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/slack/events"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def page(fake_slack: FakeSlack, fake_x: FakeX, roost: str, brand: Account) -> Page:
    fake_slack.signing_secret = SIGNING_SECRET  # what Roost's settings hold in these tests
    fake_slack.add_user(AGENT, "bk", real_name="Bo Kim")
    fake_slack.add_user(OWNER, "owner", real_name="Olive Owner")
    return attach(fake_slack, fake_x, events_url=roost, people=[AGENT, OWNER], brands=["brand"])


def call(
    fake_slack: FakeSlack, path: str, body: Any = None, *, content_type: str = "application/json"
) -> tuple[int, dict[str, str], bytes]:
    """A request to the FakeSlack's server as the browser makes it: (status, headers, body)."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(fake_slack.base_url + path, data=data, method="GET")
    if data is not None:
        request.method = "POST"
        request.add_header("Content-Type", content_type)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def api(fake_slack: FakeSlack, name: str, body: dict[str, Any]) -> dict[str, Any]:
    status, _, answer = call(fake_slack, f"/sandbox/api/{name}", body)
    assert status == 200, answer
    result: dict[str, Any] = json.loads(answer)
    return result


def state(fake_slack: FakeSlack, person: str = AGENT, since: int = 0) -> dict[str, Any]:
    status, _, answer = call(fake_slack, f"/sandbox/api/state?as={person}&since={since}")
    assert status == 200, answer
    result: dict[str, Any] = json.loads(answer)
    return result


def shown_until(fake_slack: FakeSlack, found: Any, timeout: float = 10.0) -> Any:
    """What `found(state)` picks out of the page's state, once it does."""
    return wait_for(lambda: found(state(fake_slack)), timeout=timeout)


def card_in(shown: dict[str, Any]) -> dict[str, Any]:
    channel = next(c for c in shown["channels"] if c["id"] == BRAND_CHANNEL)
    card: dict[str, Any] = channel["messages"][0]
    return card


def click(
    fake_slack: FakeSlack, container: dict[str, Any], blocks: list[Any], action_id: str
) -> Any:
    """Press the element `action_id` in `blocks`, as the page's script does."""
    for index, block in enumerate(blocks):
        for element in [*block.get("elements", []), block.get("accessory")]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return api(
                    fake_slack,
                    "action",
                    {
                        "as": AGENT,
                        "container": container,
                        "block_index": index,
                        "block_id": block.get("block_id"),
                        "action_id": action_id,
                    },
                )
    raise AssertionError(f"no {action_id} in {blocks}")


def filled_modal(fake_slack: FakeSlack, depth: int = 1) -> dict[str, Any]:
    def found(shown: dict[str, Any]) -> dict[str, Any] | None:
        modals = shown["modals"]
        ready = len(modals) == depth and modals[-1].get("callback_id")
        return modals[-1] if ready else None

    modal: dict[str, Any] = shown_until(fake_slack, found)
    return modal


def typed(text: str) -> dict[str, Any]:
    return {TEXT_BLOCK: {TEXT_INPUT: {"type": "plain_text_input", "value": text}}}


# --- serving ---------------------------------------------------------------------------


def test_the_page_and_its_assets_are_served_as_files_under_a_strict_csp(
    page: Page, fake_slack: FakeSlack
) -> None:
    status, headers, body = call(fake_slack, "/")
    assert (status, headers["Location"]) == (302, "/sandbox/")

    status, headers, body = call(fake_slack, "/sandbox/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # The page is the file as it is: no data is ever templated into HTML.
    assert body == (STATIC / "index.html").read_bytes()
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script" in body and b"<style" not in body and b"style=" not in body

    for name, kind in [("sandbox.js", "text/javascript"), ("sandbox.css", "text/css")]:
        status, headers, body = call(fake_slack, f"/sandbox/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
        assert body == (STATIC / name).read_bytes()
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert b"innerHTML" not in (STATIC / "sandbox.js").read_bytes().split(b'"use strict"')[1]

    for path in ["../page.py", "..%2fpage.py", "%2e%2e/page.py", "nothing.js", "", "/etc/passwd"]:
        status, _, body = call(fake_slack, f"/sandbox/static/{path}")
        assert status == 404, path
        assert b"import" not in body


def test_state_answers_at_once_then_waits_for_a_change(
    page: Page, fake_slack: FakeSlack, fake_x: FakeX
) -> None:
    first = state(fake_slack)
    assert first["you"] == AGENT and first["people"] == [AGENT, OWNER]
    assert {"bk", "owner"} <= {user["name"] for user in first["users"]}
    assert [c["name"] for c in first["channels"]] == ["x-brand"]

    fake_x.add_user("mallory")
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(state, fake_slack, AGENT, first["version"])
        time.sleep(0.3)  # the long-poll is parked; nothing to see yet
        assert not waiting.done()
        fake_x.post_mention("brand", author="mallory", text="@brand <script>alert(1)</script> &")
        woken = waiting.result(timeout=10)
    assert time.monotonic() - started < 10
    assert woken["version"] > first["version"]
    (entry,) = woken["x"]["brands"][0]["timeline"]
    # Data, as typed, for the browser to show as text.
    assert (entry["kind"], entry["author"]) == ("mention", "mallory")
    assert entry["text"] == "@brand <script>alert(1)</script> &"


def test_people_see_their_own_ephemerals_only(page: Page, fake_slack: FakeSlack) -> None:
    assert api(
        fake_slack, "command", {"as": OWNER, "channel": BRAND_CHANNEL, "text": "/roost help"}
    )
    owner_sees = shown_until(fake_slack, lambda s: state(fake_slack, OWNER)["ephemerals"])
    assert owner_sees and state(fake_slack, AGENT)["ephemerals"] == []


# --- acting on Roost's real app --------------------------------------------------------


def test_reply_from_the_card_opens_the_modal_previews_and_publishes_on_x(
    page: Page, rt: Runtime, fake_slack: FakeSlack, fake_x: FakeX, jane_card: dict[str, Any]
) -> None:
    card = card_in(state(fake_slack))
    assert card["ts"] == jane_card["ts"]
    container = {"type": "message", "channel": BRAND_CHANNEL, "ts": card["ts"]}
    assert click(fake_slack, container, card["blocks"], ACTION_REPLY) == {"ok": True, "status": 200}

    compose = filled_modal(fake_slack)
    answer = api(
        fake_slack,
        "submit",
        {"as": AGENT, "view_id": compose["id"], "values": typed("@jane Hold power 10 s.")},
    )
    assert answer == {"ok": True, "response_action": "push"}
    preview = filled_modal(fake_slack, depth=2)
    assert "@jane Hold power 10 s. ^BK" in json.dumps(preview["blocks"])

    answer = api(fake_slack, "submit", {"as": AGENT, "view_id": preview["id"], "values": {}})
    assert answer == {"ok": True, "response_action": "clear"}
    assert state(fake_slack)["modals"] == []
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    assert post["text"] == "@jane Hold power 10 s. ^BK"
    timeline = shown_until(
        fake_slack, lambda s: [e for e in s["x"]["brands"][0]["timeline"] if e["kind"] == "reply"]
    )
    assert (timeline[0]["text"], timeline[0]["cotag"]) == (post["text"], "^BK")
    # The card Roost updated shows as edited, its thread log under it.
    card = card_in(state(fake_slack))
    assert card["edited"] and "replied as @brand" in card["replies"][0]["text"]


def test_errors_roost_answers_a_submission_with_show_under_their_block(
    page: Page, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    card = card_in(state(fake_slack))
    container = {"type": "message", "channel": BRAND_CHANNEL, "ts": card["ts"]}
    click(fake_slack, container, card["blocks"], ACTION_REPLY)
    compose = filled_modal(fake_slack)
    answer = api(
        fake_slack, "submit", {"as": AGENT, "view_id": compose["id"], "values": typed("  ")}
    )
    assert answer["response_action"] == "errors"
    (shown,) = state(fake_slack)["modals"]
    assert shown["id"] == compose["id"] and "empty" in shown["errors"][TEXT_BLOCK]

    assert api(fake_slack, "close", {"as": AGENT, "view_id": compose["id"]}) == {"ok": True}
    assert state(fake_slack)["modals"] == []


def test_roost_help_answers_the_command_only_to_its_author(
    page: Page, fake_slack: FakeSlack
) -> None:
    answer = api(
        fake_slack, "command", {"as": AGENT, "channel": BRAND_CHANNEL, "text": "/roost help"}
    )
    assert answer == {"ok": True, "status": 200}
    (help_text,) = shown_until(fake_slack, lambda s: s["ephemerals"])
    assert help_text["channel"] == BRAND_CHANNEL and "/roost" in json.dumps(help_text)
    assert not help_text["in_channel"]


def test_an_at_mention_in_a_cards_thread_assigns_it(
    page: Page, rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    answer = api(
        fake_slack,
        "message",
        {
            "as": AGENT,
            "channel": BRAND_CHANNEL,
            "thread_ts": jane_card["ts"],
            "text": "@owner yours",
        },
    )
    assert answer["ok"]
    (typed_reply,) = fake_slack.thread(BRAND_CHANNEL, jane_card["ts"])
    assert (typed_reply["user"], typed_reply["text"]) == (AGENT, f"<@{OWNER}> yours")

    def confirmed() -> list[dict[str, Any]] | None:
        run_jobs(rt)  # once Roost's lazy listener has queued its work
        replies: list[dict[str, Any]] = card_in(state(fake_slack))["replies"]
        return replies if len(replies) > 1 else None

    replies = wait_for(confirmed, timeout=10)
    assert replies[-1]["user"] == fake_slack.bot_user_id and OWNER in json.dumps(replies[-1])


def test_a_request_roost_refuses_is_told_to_the_person(page: Page, fake_slack: FakeSlack) -> None:
    fake_slack.signing_secret = "not-what-roost-knows"
    answer = api(
        fake_slack, "command", {"as": AGENT, "channel": BRAND_CHANNEL, "text": "/roost help"}
    )
    assert answer == {"ok": False, "status": 401}
    (notice,) = state(fake_slack)["notices"]
    assert "HTTP 401" in notice["text"]
    assert state(fake_slack, OWNER)["notices"] == []


# --- X -----------------------------------------------------------------------------------


def test_a_customer_mention_and_the_switches_act_on_the_fake_x(
    page: Page, fake_slack: FakeSlack, fake_x: FakeX
) -> None:
    assert api(fake_slack, "x/mention", {"brand": "brand", "author": "newbie", "text": "hi <b>"})[
        "ok"
    ]
    (mention,) = fake_x.mentions_of("brand")
    assert fake_x.username(mention["author_id"]) == "newbie"

    for name in ["rate_limit", "outage", "revoked"]:
        api(fake_slack, "x/switch", {"switch": name, "on": True})
    assert state(fake_slack)["x"]["switches"] == {
        "rate_limit": True,
        "outage": True,
        "revoked": True,
    }
    assert fake_x.faulting("/2/", 429) and fake_x.refuses_tokens("brand")
    for name in ["rate_limit", "outage", "revoked"]:
        api(fake_slack, "x/switch", {"switch": name, "on": False})
    assert state(fake_slack)["x"]["switches"] == {
        "rate_limit": False,
        "outage": False,
        "revoked": False,
    }
    assert not fake_x.faulting("/2/", 503) and not fake_x.refuses_tokens("brand")


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/sandbox/api/action", b"{not json", "application/json"),
        ("/sandbox/api/action", b"[]", "application/json"),
        ("/sandbox/api/action", b'{"as": "U0AGENT"}', "text/plain"),
        ("/sandbox/api/action", {"as": "U0NOBODY", "container": {}}, "application/json"),
        (
            "/sandbox/api/action",
            {"as": AGENT, "container": {"type": "message"}},
            "application/json",
        ),
        (
            "/sandbox/api/action",
            {"as": AGENT, "container": {"type": "view", "view_id": "V1"}},
            "application/json",
        ),
        ("/sandbox/api/submit", {"as": AGENT, "view_id": "V404"}, "application/json"),
        (
            "/sandbox/api/command",
            {"as": AGENT, "channel": "C404", "text": "/roost"},
            "application/json",
        ),
        (
            "/sandbox/api/command",
            {"as": AGENT, "channel": BRAND_CHANNEL, "text": "/other"},
            "application/json",
        ),
        (
            "/sandbox/api/message",
            {"as": AGENT, "channel": BRAND_CHANNEL, "text": ""},
            "application/json",
        ),
        (
            "/sandbox/api/message",
            {"as": AGENT, "channel": BRAND_CHANNEL, "text": "x", "thread_ts": "1.2"},
            "application/json",
        ),
        (
            "/sandbox/api/x/mention",
            {"brand": "nope", "author": "a", "text": "t"},
            "application/json",
        ),
        (
            "/sandbox/api/x/mention",
            {"brand": "brand", "author": "no spaces", "text": "t"},
            "application/json",
        ),
        ("/sandbox/api/x/switch", {"switch": "rate_limit", "on": "yes"}, "application/json"),
        ("/sandbox/api/scenario", {"name": "nothing", "action": "start"}, "application/json"),
        # Fields of another kind than asked: refused, not a crash of the fake.
        ("/sandbox/api/scenario", {"name": ["x"], "action": "start"}, "application/json"),
        (
            "/sandbox/api/x/mention",
            {"brand": ["brand"], "author": "a", "text": "t"},
            "application/json",
        ),
        (
            "/sandbox/api/x/mention",
            {"brand": "brand", "author": "ann", "name": ["<b>"], "text": "t"},
            "application/json",
        ),
        ("/sandbox/api/home", {"as": ["U0AGENT"]}, "application/json"),
        ("/sandbox/api/unknown", {}, "application/json"),
        ("/sandbox/api/state?as=U0AGENT&since=soon", None, ""),
        ("/sandbox/api/state?as=U0NOBODY", None, ""),
    ],
)
def test_bad_input_is_answered_400_with_a_reason(
    page: Page, fake_slack: FakeSlack, path: str, body: Any, content_type: str
) -> None:
    status, headers, answer = call(fake_slack, path, body, content_type=content_type)
    assert status == 400, answer
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(answer)["error"]
    assert state(fake_slack)["you"] == AGENT  # and the fake serves on


def test_a_block_that_is_not_there_is_refused(
    page: Page, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    container = {"type": "message", "channel": BRAND_CHANNEL, "ts": jane_card["ts"]}
    for wrong in [
        {"block_index": 99, "action_id": ACTION_REPLY},
        {"block_index": 0, "action_id": "x"},
    ]:
        status, _, answer = call(
            fake_slack, "/sandbox/api/action", {"as": AGENT, "container": container, **wrong}
        )
        assert status == 400 and json.loads(answer)["error"]
    assert not fake_slack.views


def test_opening_the_home_has_roost_publish_it_for_that_person(
    page: Page, fake_slack: FakeSlack
) -> None:
    """The page sends Slack's app_home_opened, as Slack does when the Home tab opens."""
    assert state(fake_slack)["home"] is None
    assert api(fake_slack, "home", {"as": AGENT})["ok"]
    home = shown_until(fake_slack, lambda shown: shown["home"])
    assert home["type"] == "home" and home["blocks"]
    assert state(fake_slack, OWNER)["home"] is None  # each person's own


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
@pytest.mark.parametrize("path", ["/sandbox/", "/sandbox/api/state", "/_control/messages", "/"])
def test_another_name_for_this_computer_is_refused_everywhere(
    page: Page, fake_slack: FakeSlack, host: str, path: str
) -> None:
    """A page elsewhere that rebinds a name of its own to the sandbox's port reads nothing:
    not the page, nor the fake Slack's own control routes."""
    assert status_as(fake_slack, path, host) == 403


@pytest.mark.parametrize("host", ["LOCALHOST", "localhost:1234", "127.0.0.1", "[::1]", "[::1]:80"])
def test_every_spelling_of_this_computer_is_served(
    page: Page, fake_slack: FakeSlack, host: str
) -> None:
    assert status_as(fake_slack, "/sandbox/", host) == 200


def status_as(fake_slack: FakeSlack, path: str, host: str) -> int:
    """The status of a GET of `path` whose Host header says `host`."""
    request = urllib.request.Request(fake_slack.base_url + path, headers={"Host": host})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_a_request_with_a_body_over_the_limit_is_refused_before_it_is_read(
    page: Page, fake_slack: FakeSlack
) -> None:
    host, port = fake_slack.base_url.removeprefix("http://").split(":")
    for length in ("-1", str(10**12)):
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(
                f"POST /sandbox/api/action HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
            )
            assert connection.recv(100).startswith(b"HTTP/1.1 400")


def test_x_consent_page_lets_a_person_pick_the_account_to_reconnect(fake_x: FakeX) -> None:
    """With no account chosen in advance, the sandbox's fake X asks whose account it is,
    each choice a link back to the same consent with that account."""
    client_id, _ = fake_x.register_client("http://127.0.0.1:9/x/oauth/callback")
    fake_x.add_user("acme")
    fake_x.consent_choices = ["acme", "<b>x"]
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:9/x/oauth/callback",
            "scope": "tweet.read users.read",
            "state": "s",
            "code_challenge": "c",
            "code_challenge_method": "plain",
        }
    )
    with urllib.request.urlopen(f"{fake_x.url}{AUTHORIZE_PATH}?{query}", timeout=10) as answer:
        page = answer.read().decode()
    assert "Authorize as @acme" in page and "&lt;b&gt;x" in page and "<b>x" not in page
    link = re.search(r'href="([^"]*fake_user=acme)"', page)
    assert link is not None
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(fake_x.url + html.unescape(link.group(1)), timeout=10)
    with redirected.value as answer:
        assert answer.code == 302 and "code=" in answer.headers["Location"]


@pytest.mark.parametrize(("host", "status"), [("evil.example", 403), ("127.0.0.1", 401)])
def test_the_sandboxs_fake_x_answers_only_to_this_computers_names(
    fake_x: FakeX, host: str, status: int
) -> None:
    """As the fake Slack: its consent page is open to the browser, so to others by name."""
    fake_x.loopback_only = True
    request = urllib.request.Request(fake_x.url + "/2/users/me", headers={"Host": host})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value as answer:
        assert answer.code == status  # 401: on to X's own check, a missing token

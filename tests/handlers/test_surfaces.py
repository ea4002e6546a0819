"""Slack surfaces through signed requests, real Bolt and the fake Slack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from pydantic import SecretStr
from slack_bolt import App, BoltRequest

from bot.app import create_app
from bot.inbox.cards import ACTION_DM, ACTION_REOPEN, ACTION_REPLY, CARD_ACTIONS
from bot.inbox.intake import Intake
from bot.runtime import Runtime
from bot.web import wsgi_app
from handlers.ack import FAILED
from sandbox.slack_api import FakeSlack, command_body, event_body, signed_headers
from sandbox.x_api import FakeX
from storage.db import make_engine, session_factory
from storage.models import Account
from tests.conftest import BRAND_CHANNEL, SIGNING_SECRET, run_jobs
from tests.handlers.signed import FORM, button, card_click, dispatch


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return create_app(rt)


def roost_command(fake_slack: FakeSlack, text: str = "") -> str:
    return command_body(
        "/roost",
        text,
        user_id="U0AGENT",
        channel_id=BRAND_CHANNEL,
        team_id=fake_slack.team_id,
        response_url=fake_slack.response_url(),
    )


@pytest.mark.parametrize("action_id", sorted(set(CARD_ACTIONS) - {ACTION_REOPEN}))
def test_every_card_button_answers_the_clicker(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    action_id: str,
) -> None:
    """Nobody has a role on @brand yet: each button says so, and who can grant one."""
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane")
    Intake(rt).poll(brand)
    run_jobs(rt)
    card = fake_slack.messages(BRAND_CHANNEL)[0]
    action = button(card, action_id)
    if action["type"] == "users_select":
        action["selected_user"] = "U0BOB"
    response = dispatch(app, card_click(fake_slack, action))
    assert response.status == 200
    if action_id in (ACTION_REPLY, ACTION_DM):
        # These open a modal at once (a click's trigger lives 3 s); it says why instead.
        opened = fake_slack.wait_for(lambda: len(fake_slack.views) == 2 and fake_slack.views)
        said = json.dumps(opened[1]["view"]["blocks"])
    else:
        answer = fake_slack.wait_for(lambda: fake_slack.responses)[0]
        assert answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is False
        said = answer["text"]
    assert "You have no role on *@brand*" in said
    assert "roost grants add --account brand" in said
    assert fake_x.calls_to("/2/tweets", "POST") == []


def test_a_forged_request_is_refused(app: App, fake_slack: FakeSlack) -> None:
    body = roost_command(fake_slack)
    headers = {**signed_headers("not-the-secret", body), **FORM}
    assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 401
    stale = {**signed_headers(SIGNING_SECRET, body, timestamp=1_000_000_000), **FORM}
    assert app.dispatch(BoltRequest(body=body, headers=stale)).status == 401
    assert fake_slack.responses == []


def test_roost_command_answers_privately_with_help(app: App, fake_slack: FakeSlack) -> None:
    body = roost_command(fake_slack)
    assert dispatch(app, body).status == 200
    (answer,) = fake_slack.wait_for(lambda: fake_slack.responses)
    assert answer["response_type"] == "ephemeral"
    assert "/roost accounts" in answer["text"] and "/roost cotag" in answer["text"]


def test_a_command_that_fails_unexpectedly_still_answers_the_person(
    app: App, rt: Runtime, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that stopped answering is nobody's refusal: before, the person waited
    for an answer that never came, and only the log knew."""
    rt.engine = make_engine("postgresql+psycopg://roost@127.0.0.1:1/roost")
    rt.sessions = session_factory(rt.engine)
    assert dispatch(app, roost_command(fake_slack, "mine")).status == 200
    (answer,) = fake_slack.wait_for(lambda: fake_slack.responses)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == FAILED
    assert "OperationalError" in caplog.text


def test_app_home_is_published_when_opened(app: App, fake_slack: FakeSlack) -> None:
    event = {"type": "app_home_opened", "user": "U0AGENT", "tab": "home", "channel": "D1"}
    body = event_body(event, team_id=fake_slack.team_id)
    assert dispatch(app, body, "application/json").status == 200
    (published,) = fake_slack.wait_for(lambda: fake_slack.views)
    assert published["method"] == "views.publish"
    assert published["user_id"] == "U0AGENT"


@pytest.fixture
def server(rt: Runtime, app: App) -> Iterator[str]:
    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = make_server("127.0.0.1", 0, wsgi_app(rt, app), handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_slack_events_endpoint_over_http(server: str, fake_slack: FakeSlack) -> None:
    challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    headers = {**signed_headers(SIGNING_SECRET, challenge), "Content-Type": "application/json"}
    answer = requests.post(f"{server}/slack/events", data=challenge, headers=headers, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"challenge": "c-123"}
    forged = requests.post(f"{server}/slack/events", data=challenge, timeout=5)
    assert forged.status_code == 401


def test_healthz_answers_200_when_database_and_redis_answer(server: str) -> None:
    answer = requests.get(f"{server}/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"database": "ok", "redis": "ok"}


def test_healthz_answers_503_naming_what_is_down(rt: Runtime, server: str) -> None:
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    rt.redis = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    answer = requests.get(f"{server}/healthz", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["database"] == "ok"
    assert answer.json()["redis"].startswith("unreachable")


def test_socket_mode_serves_no_http_endpoint_for_slack(
    rt: Runtime, app: App, server: str, fake_slack: FakeSlack
) -> None:
    rt.settings = rt.settings.model_copy(update={"slack_app_token": SecretStr("xapp-1")})
    body = roost_command(fake_slack)
    unsigned = requests.post(f"{server}/slack/events", data=body, headers=FORM, timeout=5)
    assert unsigned.status_code == 404
    assert fake_slack.responses == []
    assert requests.get(f"{server}/healthz", timeout=5).status_code == 200

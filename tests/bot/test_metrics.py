"""/metrics: read from the database and Redis at scrape time, 429s counted by every process.

Scrapes go through the web process's WSGI app and are parsed with prometheus_client's own
parser; 429s come from the fake Slack and X through the real clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from wsgiref.util import setup_testing_defaults

import pytest
import requests
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import update

from bot.app import create_app
from bot.errors import SettingsError, SlackRateLimited, XRateLimited
from bot.inbox.intake import Intake
from bot.inbox.stream import MentionStream
from bot.rate_limits import count_rate_limit
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.slack.client import make_client, translate_errors
from bot.team.connect import CALLBACK_PATH, authorize_url, complete
from bot.team.credentials import x_client
from bot.web import metrics_app, wsgi_app
from bot.wiring import runtime_from
from bot.worker import RoostWorker
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.accounts import note_x_limit, stop_intake
from storage.db import make_engine, session_factory
from storage.mentions import MAX_CARD_ATTEMPTS
from storage.models import Account, Mention, Outbound
from tests.conftest import BRAND_CHANNEL, run_jobs

TOKEN = "metrics-token-for-tests"
NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return create_app(rt)


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.body = body

    def samples(self) -> Samples:
        """Every sample, parsed as Prometheus would: (name, labels) -> value."""
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.body.decode())
            for sample in family.samples
        }

    def families(self) -> set[str]:
        return {family.name for family in text_string_to_metric_families(self.body.decode())}


def scrape(
    rt: Runtime,
    app: App,
    *,
    method: str = "GET",
    authorization: str | None = None,
    public: bool = False,
) -> Answer:
    """One request to /metrics through the web process's WSGI app: the private metrics
    port's, or (`public`) the one on PORT that Slack reaches."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": "/metrics"}
    setup_testing_defaults(environ)
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started.append((status, headers))

    served = wsgi_app(rt, app) if public else metrics_app(rt)
    body: Iterable[bytes] = served(environ, start_response)
    return Answer(*started[0], b"".join(body))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def rate_limited(rt: Runtime) -> dict[str, float]:
    samples = scrape(rt, create_app(rt)).samples()
    return {s: value(samples, "roost_rate_limited_total", service=s) for s in ("slack", "x")}


def dead_redis() -> Redis:
    return Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))


# --- the endpoint ------------------------------------------------------------------------------


def test_a_scrape_is_valid_exposition_with_every_metric(rt: Runtime, app: App) -> None:
    answer = scrape(rt, app)
    assert answer.status == "200 OK"
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert answer.families() == {
        "roost_up",
        "roost_intake_poll_age_seconds",
        "roost_intake_status",
        "roost_outbound_rows",
        "roost_mentions_undelivered",
        "roost_mentions_undelivered_age_seconds",
        "roost_rate_limited",
        "roost_queue_jobs",
        "roost_set_aside",
        "roost_x_limited_seconds",
        "roost_x_spend_usd",
    }
    samples = answer.samples()
    assert value(samples, "roost_up", dependency="database") == 1
    assert value(samples, "roost_up", dependency="redis") == 1
    assert value(samples, "roost_rate_limited_total", service="slack") == 0
    assert value(samples, "roost_rate_limited_total", service="x") == 0


@pytest.mark.parametrize("public", [True, False])
def test_with_a_token_set_only_its_bearer_may_scrape(rt: Runtime, app: App, public: bool) -> None:
    rt.settings = rt.settings.model_copy(update={"roost_metrics_token": SecretStr(TOKEN)})
    for refused in (None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", "Bearer ", "Bearer tökén"):
        answer = scrape(rt, app, authorization=refused, public=public)
        assert answer.status == "401 Unauthorized", refused
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"roost_" not in answer.body
    accepted = scrape(rt, app, authorization=f"Bearer {TOKEN}", public=public)
    assert accepted.status == "200 OK"
    assert value(accepted.samples(), "roost_up", dependency="database") == 1


def test_without_a_token_metrics_are_open_on_the_private_port_only(rt: Runtime, app: App) -> None:
    assert rt.settings.roost_metrics_token is None
    assert scrape(rt, app, authorization="Bearer anything").status == "200 OK"
    public = scrape(rt, app, authorization="Bearer anything", public=True)
    assert public.status == "404 Not Found"
    assert b"ROOST_METRICS_TOKEN" in public.body and b"roost_" not in public.body


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_metrics_token_refuses_to_start(token: str) -> None:
    with pytest.raises(SettingsError, match="ROOST_METRICS_TOKEN is not valid"):
        load_settings(_env_file=None, roost_metrics_token=token)


def test_only_get_and_head_are_answered(rt: Runtime, app: App) -> None:
    posted = scrape(rt, app, method="POST")
    assert posted.status == "405 Method Not Allowed"
    assert posted.headers["Allow"] == "GET, HEAD"
    head = scrape(rt, app, method="HEAD")
    assert head.status == "200 OK" and head.body == b""
    assert int(head.headers["Content-Length"]) > 0


def test_metrics_are_served_in_socket_mode_too(rt: Runtime, app: App) -> None:
    rt.settings = rt.settings.model_copy(
        update={"slack_app_token": SecretStr("xapp-1"), "roost_metrics_token": SecretStr(TOKEN)}
    )
    assert scrape(rt, app, authorization=f"Bearer {TOKEN}", public=True).status == "200 OK"


def test_with_the_database_down_the_scrape_still_answers(rt: Runtime, app: App) -> None:
    count_rate_limit(rt.redis, "x")
    rt.engine = make_engine("postgresql+psycopg://roost@127.0.0.1:1/roost")
    rt.sessions = session_factory(rt.engine)
    try:
        answer = scrape(rt, app)
    finally:
        rt.engine.dispose()
    assert answer.status == "200 OK"
    samples = answer.samples()
    assert value(samples, "roost_up", dependency="database") == 0
    assert value(samples, "roost_up", dependency="redis") == 1
    assert answer.families() == {"roost_up", "roost_rate_limited", "roost_queue_jobs"}
    assert value(samples, "roost_rate_limited_total", service="x") == 1


def test_with_redis_down_the_scrape_still_answers(rt: Runtime, app: App, brand: Account) -> None:
    rt.redis = dead_redis()
    answer = scrape(rt, app)
    assert answer.status == "200 OK"
    samples = answer.samples()
    assert value(samples, "roost_up", dependency="redis") == 0
    assert value(samples, "roost_up", dependency="database") == 1
    assert "roost_queue_jobs" not in answer.families()
    assert "roost_rate_limited" not in answer.families()
    assert value(samples, "roost_intake_status", account="brand", status="active") == 1


# --- what is measured --------------------------------------------------------------------------


def test_intake_age_is_since_the_last_poll_or_since_the_account_was_added(
    rt: Runtime, app: App, fake_x: FakeX, brand: Account
) -> None:
    rt.clock = lambda: brand.created_at + timedelta(seconds=75)
    samples = scrape(rt, app).samples()
    assert value(samples, "roost_intake_poll_age_seconds", account="brand") == 75
    assert value(samples, "roost_intake_status", account="brand", status="active") == 1

    Intake(rt).poll(brand)
    polled_at = rt.clock()
    rt.clock = lambda: polled_at + timedelta(seconds=42)
    samples = scrape(rt, app).samples()
    assert value(samples, "roost_intake_poll_age_seconds", account="brand") == 42

    with rt.sessions.begin() as session:
        stop_intake(session, brand.id, "revoked", "token revoked", rt.clock())
    samples = scrape(rt, app).samples()
    assert value(samples, "roost_intake_status", account="brand", status="revoked") == 1
    assert ("roost_intake_status", frozenset({("account", "brand"), ("status", "active")})) not in (
        samples
    )


def test_outbound_rows_are_counted_by_status_and_kind(
    rt: Runtime, app: App, brand: Account
) -> None:
    rows = [
        ("pending", "reply"),
        ("pending", "reply"),
        ("pending", "dm"),
        ("sending", "reply"),
        ("sent", "reply"),
        ("sent", "reply"),
        ("sent", "retweet"),
        ("failed", "dm"),
        ("unknown", "reply"),
        ("awaiting_approval", "reply"),
    ]
    with rt.sessions.begin() as session:
        for number, (status, kind) in enumerate(rows):
            session.add(
                Outbound(
                    idempotency_key=f"metrics-{number}",
                    kind=kind,
                    account_id=brand.id,
                    status=status,
                    created_at=NOW,
                )
            )
    samples = scrape(rt, app).samples()
    counted = {
        (labels["status"], labels["kind"]): found
        for (name, pairs), found in samples.items()
        if name == "roost_outbound_rows"
        for labels in [dict(pairs)]
    }
    assert counted == {
        ("pending", "reply"): 2,
        ("pending", "dm"): 1,
        ("sending", "reply"): 1,
        ("sent", "reply"): 2,
        ("sent", "retweet"): 1,
        ("failed", "dm"): 1,
        ("unknown", "reply"): 1,
        ("awaiting_approval", "reply"): 1,
    }


def test_mentions_without_their_slack_message_are_counted_by_state(
    rt: Runtime, app: App, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    for author in ("ana", "bo", "cy"):
        fake_x.add_user(author)
        fake_x.post_mention("brand", author=author)
    rt.clock = lambda: NOW
    Intake(rt).poll(brand)
    rt.clock = lambda: NOW + timedelta(seconds=90)

    def undelivered() -> dict[str, float]:
        samples = scrape(rt, app).samples()
        states = ("waiting", "refused", "given_up")
        counts = {s: value(samples, "roost_mentions_undelivered", state=s) for s in states}
        counts["age"] = value(samples, "roost_mentions_undelivered_age_seconds")
        return counts

    assert undelivered() == {"waiting": 3, "refused": 0, "given_up": 0, "age": 90}

    fake_slack.remove_bot_from(BRAND_CHANNEL)
    run_jobs(rt)
    with rt.sessions.begin() as session:
        session.execute(
            update(Mention)
            .where(Mention.author_username == "cy")
            .values(card_attempts=MAX_CARD_ATTEMPTS)
        )
    assert undelivered() == {"waiting": 0, "refused": 2, "given_up": 1, "age": 90}

    with rt.sessions.begin() as session:
        session.execute(
            update(Mention)
            .where(Mention.author_username != "cy")
            .values(card_posted_at=NOW, card_error=None)
        )
    assert undelivered() == {"waiting": 0, "refused": 0, "given_up": 1, "age": 0}


def test_queue_depths_are_read_from_the_queue_and_its_registries(rt: Runtime, app: App) -> None:
    rt.queue.enqueue("builtins.int", "not a number")
    RoostWorker([rt.queue], connection=rt.redis).work(burst=True)
    rt.queue.enqueue("builtins.print")
    rt.queue.enqueue("builtins.print")
    rt.queue.enqueue_in(timedelta(hours=1), "builtins.print")
    samples = scrape(rt, app).samples()
    depths = {
        state: value(samples, "roost_queue_jobs", queue=rt.queue.name, state=state)
        for state in ("queued", "scheduled", "started", "failed")
    }
    assert depths == {"queued": 2, "scheduled": 1, "started": 0, "failed": 1}


# --- 429s --------------------------------------------------------------------------------------


def test_an_x_429_during_intake_is_counted_once(rt: Runtime, fake_x: FakeX, brand: Account) -> None:
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 429, reset_in=600)
    with pytest.raises(XRateLimited):
        Intake(rt).poll(brand)
    assert rate_limited(rt) == {"slack": 0, "x": 1}


def test_an_x_429_on_the_stream_rules_is_counted_once(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.fail("/2/tweets/search/stream/rules", 429)
    with pytest.raises(XRateLimited):
        MentionStream(rt, Intake(rt)).sync_rules()
    assert rate_limited(rt) == {"slack": 0, "x": 1}


def test_an_x_429_on_the_token_exchange_is_counted_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack
) -> None:
    public_url = "http://roost.example"
    registered, _ = fake_x.register_client(public_url + CALLBACK_PATH)
    rt.settings = rt.settings.model_copy(
        update={
            "x_client_id": registered,
            "roost_public_url": public_url,
            "x_authorize_url": f"{fake_x.url}/i/oauth2/authorize",
        }
    )
    fake_x.add_user("brand")
    fake_x.consent_as("brand")
    url = authorize_url(rt, team_id=fake_slack.team_id, user_id="U0LEAD", channel_id=None)
    back = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    query = dict(parse_qsl(urlsplit(back).query))
    fake_x.fail("/2/oauth2/token", 429)
    with pytest.raises(XRateLimited):
        complete(rt, state=query["state"], code=query["code"], error=None)
    assert rate_limited(rt) == {"slack": 0, "x": 1}


def test_a_slack_429_waited_out_is_counted_once(
    settings: Settings, redis: Redis, fake_slack: FakeSlack
) -> None:
    built = runtime_from(settings, redis=redis)
    try:
        fake_slack.fail("chat.postMessage", retry_after=0)
        built.slack.chat_postMessage(channel=BRAND_CHANNEL, text="hello")
        assert len(fake_slack.messages(BRAND_CHANNEL)) == 1
        assert rate_limited(built) == {"slack": 1, "x": 0}
    finally:
        built.engine.dispose()


def test_the_counting_client_serves_bolts_lazy_listeners(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    """Bolt deep-copies each request, client included, for a lazy listener: the counting
    client, as bot.wiring.runtime_from builds it, must survive that, or every click fails."""
    from tests.handlers.signed import command, make_app

    rt.slack = counting_client(rt, fake_slack, partial(count_rate_limit, rt.redis, "slack"))
    fake_slack.add_user("U0AGENT", "agent")
    assert command(make_app(rt), fake_slack, "mine").status == 200
    assert "Nothing is assigned to you" in fake_slack.responses[-1]["text"]
    fake_slack.fail("chat.postMessage", retry_after=0)
    rt.slack.chat_postMessage(channel=BRAND_CHANNEL, text="hello")
    assert rate_limited(rt) == {"slack": 1, "x": 0}  # and it still counts


def test_slack_429s_past_the_retries_are_each_counted_once(
    rt: Runtime, fake_slack: FakeSlack
) -> None:
    # 1 try + RATE_LIMIT_RETRIES, all refused: translate_errors must not count the last again.
    slack = counting_client(rt, fake_slack, partial(count_rate_limit, rt.redis, "slack"))
    fake_slack.fail("chat.postMessage", retry_after=0, times=3)
    with pytest.raises(SlackRateLimited), translate_errors(BRAND_CHANNEL):
        slack.chat_postMessage(channel=BRAND_CHANNEL, text="hello")
    assert rate_limited(rt) == {"slack": 3, "x": 0}


def test_redis_down_never_fails_the_call_being_counted(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    down = dead_redis()
    slack = counting_client(rt, fake_slack, partial(count_rate_limit, down, "slack"))
    fake_slack.fail("chat.postMessage", retry_after=0)
    assert slack.chat_postMessage(channel=BRAND_CHANNEL, text="hello")["ok"]

    rt.redis = down
    fake_x.fail(f"/2/users/{brand.x_user_id}/mentions", 429)
    with pytest.raises(XRateLimited):
        x_client(rt, brand).mentions_page(brand.x_user_id)


def counting_client(
    rt: Runtime, fake_slack: FakeSlack, on_rate_limit: Callable[[], None]
) -> WebClient:
    return make_client(fake_slack.bot_token, rt.settings.slack_api_url, on_rate_limit=on_rate_limit)


def test_an_x_limit_an_account_spent_is_shown_until_it_ends(
    rt: Runtime, app: App, brand: Account
) -> None:
    with rt.sessions.begin() as session:
        note_x_limit(
            session, brand.id, "DMs (daily, for this account)", rt.clock() + timedelta(hours=5)
        )
        # An earlier end does not hide a daily cap.
        note_x_limit(
            session, brand.id, "posts and replies (15-minute)", rt.clock() + timedelta(minutes=3)
        )
    left = value(
        scrape(rt, app).samples(),
        "roost_x_limited_seconds",
        account="brand",
        limit="DMs (daily, for this account)",
    )
    assert 5 * 3600 - 60 < left <= 5 * 3600


def test_x_spend_is_a_counter_per_account_and_kind_equal_to_xs_bill(
    rt: Runtime, app: App, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    for n in range(3):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)
    samples = scrape(rt, app).samples()
    posts = value(samples, "roost_x_spend_usd_total", account="brand", kind="read:post")
    users = value(samples, "roost_x_spend_usd_total", account="brand", kind="read:user")
    assert round(posts + users, 6) == fake_x.spend("brand") == 0.025

"""Connecting accounts with OAuth 2.0 through the real callback, against the fake X.

The browser is `requests`: it opens the consent URL Roost made, the fake X redirects it
to Roost's callback on a real WSGI server, and the page it lands on is what a person sees.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from pydantic import SecretStr
from redis import Redis
from slack_bolt import App
from sqlalchemy import select, text, update

from bot.app import create_app
from bot.errors import RoostError, SettingsError, XTokenRevoked
from bot.inbox.intake import Intake
from bot.logs import redacting_filter
from bot.runtime import Runtime
from bot.team.connect import (
    CALLBACK_PATH,
    STATE_TTL,
    ConnectRefused,
    authorize_url,
    complete,
    disconnect,
)
from bot.team.credentials import REFRESH_AHEAD, fresh_credentials, refresh_due, x_client
from bot.web import wsgi_app
from bot.x.oauth import SCOPES
from sandbox.slack_api import FakeSlack
from sandbox.x_api import OPENAPI_PATH, FakeX
from storage.models import Account, Event, OAuthState
from tests.conftest import BRAND_CHANNEL, REPO_ROOT, run_jobs, wait_for

LEAD = "U0LEAD"
OTHER_CHANNEL = "C0OTHER"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return create_app(rt)


@pytest.fixture
def roost_url(rt: Runtime, app: App) -> Iterator[str]:
    """The web process on an ephemeral port: /healthz, /slack/events and the callback."""

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = make_server("127.0.0.1", 0, wsgi_app(rt, app), handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client_id(rt: Runtime, fake_x: FakeX, roost_url: str) -> str:
    """Roost registered at the fake X as a public OAuth 2.0 client; @brand consents."""
    registered, _ = fake_x.register_client(roost_url + CALLBACK_PATH)
    rt.settings = rt.settings.model_copy(
        update={
            "x_client_id": registered,
            "roost_public_url": roost_url,
            "x_authorize_url": f"{fake_x.url}/i/oauth2/authorize",
        }
    )
    fake_x.add_user("brand", name="The Brand")
    fake_x.consent_as("brand")
    return registered


def connect(
    rt: Runtime, fake_slack: FakeSlack, *, channel: str | None = BRAND_CHANNEL, **query: str
) -> requests.Response:
    """Start "Connect an account" in Slack and follow X's consent back to the callback page."""
    url = authorize_url(rt, team_id=fake_slack.team_id, user_id=LEAD, channel_id=channel)
    return requests.get(url, params=query, timeout=10)


def consent_code(rt: Runtime, fake_slack: FakeSlack) -> dict[str, str]:
    """The state and code X would send back, without going to the callback."""
    url = authorize_url(rt, team_id=fake_slack.team_id, user_id=LEAD, channel_id=BRAND_CHANNEL)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def the_account(rt: Runtime) -> Account:
    with rt.sessions() as session:
        return session.scalars(select(Account)).one()


def tokens_of(rt: Runtime) -> dict[str, str]:
    return rt.box.open(the_account(rt).credentials)


def events(rt: Runtime) -> list[tuple[str, str | None]]:
    with rt.sessions() as session:
        return [(e.kind, e.actor) for e in session.scalars(select(Event).order_by(Event.id))]


def token_grants(fake_x: FakeX, grant_type: str) -> int:
    """How many token calls of this grant type reached the fake X."""
    calls = fake_x.calls_to("/2/oauth2/token", "POST")
    return sum(dict(parse_qsl(call.body.decode()))["grant_type"] == grant_type for call in calls)


def me_status(fake_x: FakeX, access_token: str) -> int:
    answer = requests.get(
        f"{fake_x.url}/2/users/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )
    return answer.status_code


def make_due(rt: Runtime) -> datetime:
    """Move Roost's clock to just inside REFRESH_AHEAD of the access token's expiry."""
    expires_at = the_account(rt).token_expires_at
    assert expires_at is not None
    now = expires_at - REFRESH_AHEAD + timedelta(seconds=1)
    rt.clock = lambda: now
    return now


# --- the consent link --------------------------------------------------------------------------


def test_authorize_url_asks_x_for_a_pkce_code_with_roosts_scopes(
    rt: Runtime, fake_slack: FakeSlack, client_id: str, roost_url: str, fake_x: FakeX
) -> None:
    url = authorize_url(rt, team_id="T1", user_id=LEAD, channel_id=BRAND_CHANNEL)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake_x.url}/i/oauth2/authorize"
    assert "scope=tweet.read%20users.read%20" in parts.query  # spaces as %20, as X documents
    query = dict(parse_qsl(parts.query))
    with rt.sessions() as session:
        state = session.scalars(select(OAuthState)).one()
    verifier = state.code_verifier
    assert 43 <= len(verifier) <= 128
    challenge = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert query == {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": roost_url + "/x/oauth/callback",
        "scope": SCOPES,
        "state": state.state,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    assert (state.team_id, state.user_id, state.channel_id) == ("T1", LEAD, BRAND_CHANNEL)
    assert state.used_at is None
    other = authorize_url(rt, team_id="T1", user_id=LEAD, channel_id=None)
    assert dict(parse_qsl(urlsplit(other).query))["state"] != state.state


def test_scopes_are_x_scopes() -> None:
    assert SCOPES.split() == [
        "tweet.read",
        "users.read",
        "tweet.write",
        "dm.read",
        "dm.write",
        "media.write",
        "offline.access",
    ]
    if not OPENAPI_PATH.exists():
        pytest.skip(f"X's OpenAPI description not found at {OPENAPI_PATH}")
    spec = json.loads(OPENAPI_PATH.read_text())
    flow = spec["components"]["securitySchemes"]["OAuth2UserToken"]["flows"]
    assert set(SCOPES.split()) <= set(flow["authorizationCode"]["scopes"])


@pytest.mark.parametrize(
    ("unset", "named"), [("x_client_id", "X_CLIENT_ID"), ("roost_public_url", "ROOST_PUBLIC_URL")]
)
def test_authorize_url_names_the_missing_setting(
    rt: Runtime, client_id: str, unset: str, named: str
) -> None:
    rt.settings = rt.settings.model_copy(update={unset: None})
    with pytest.raises(SettingsError) as raised:
        authorize_url(rt, team_id="T1", user_id=LEAD, channel_id=None)
    assert str(raised.value).startswith(f"{named} is not set: it is ")
    with rt.sessions() as session:
        assert session.scalars(select(OAuthState)).all() == []


# --- connecting --------------------------------------------------------------------------------


def test_connect_through_the_callback_then_intake_reads_mentions(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    before = rt.clock()
    page = connect(rt, fake_slack)

    assert page.status_code == 200, page.text
    assert [hop.status_code for hop in page.history] == [302]
    assert urlsplit(page.url).path == "/x/oauth/callback"
    assert "Connected @brand. You can close this tab and go back to Slack." in page.text
    assert page.text.startswith("<!doctype html>\n") and "not spoken" not in page.text
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script" not in page.text and "src=" not in page.text

    account = the_account(rt)
    assert (account.handle, account.name, account.x_user_id) == (
        "brand",
        "The Brand",
        int(fake_x.user_id("brand")),
    )
    assert (account.auth_kind, account.channel_id, account.connected_by) == (
        "oauth2",
        BRAND_CHANNEL,
        LEAD,
    )
    assert account.intake_status == "active"
    assert account.token_expires_at is not None
    assert before + timedelta(hours=2) <= account.token_expires_at
    assert account.token_expires_at <= rt.clock() + timedelta(hours=2)
    tokens = tokens_of(rt)
    assert set(tokens) == {"access_token", "refresh_token"}
    assert me_status(fake_x, tokens["access_token"]) == 200
    assert events(rt) == [("account.added", None), ("account.connected", LEAD)]
    with rt.sessions() as session:
        assert session.scalars(select(OAuthState.used_at)).one() is not None

    # The channel hears of it from a job: the page never waited on Slack.
    assert fake_slack.messages(BRAND_CHANNEL) == []
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane", text="@brand hello from the new connection")
    assert Intake(rt).poll(account) == 1
    run_jobs(rt)
    texts = [message["text"] for message in fake_slack.messages(BRAND_CHANNEL)]
    assert ":white_check_mark: Connected *@brand* (by <@U0LEAD>)" in texts[0]
    assert any("hello from the new connection" in text for text in texts[1:])
    assert token_grants(fake_x, "refresh_token") == 0


def test_a_confidential_client_authenticates_with_its_secret(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str, roost_url: str
) -> None:
    confidential, secret = fake_x.register_client(roost_url + CALLBACK_PATH, confidential=True)
    rt.settings = rt.settings.model_copy(
        update={"x_client_id": confidential, "x_client_secret": SecretStr(secret or "")}
    )
    assert connect(rt, fake_slack).status_code == 200
    (call,) = fake_x.calls_to("/2/oauth2/token")
    assert call.headers["authorization"].startswith("Basic ")
    assert "client_id" not in dict(parse_qsl(call.body.decode()))


def test_connecting_a_connected_account_updates_its_tokens(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    assert connect(rt, fake_slack).status_code == 200
    first = tokens_of(rt)
    assert connect(rt, fake_slack, channel=OTHER_CHANNEL).status_code == 200

    account = the_account(rt)  # one row still
    # A reconnect keeps the account's channel, wherever it was started (`/roost route`
    # moves it): a lead reconnecting from a DM must not send the cards away.
    assert account.channel_id == BRAND_CHANNEL
    assert tokens_of(rt)["access_token"] != first["access_token"]
    assert [kind for kind, _ in events(rt)] == [
        "account.added",
        "account.connected",
        "account.updated",
        "account.connected",
    ]
    assert connect(rt, fake_slack, channel=None).status_code == 200
    assert the_account(rt).channel_id == BRAND_CHANNEL


def test_reconnecting_resumes_a_stopped_intake(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    disconnect(rt, the_account(rt).id, actor=LEAD)
    assert the_account(rt).intake_status == "disconnected"

    assert connect(rt, fake_slack).status_code == 200
    account = the_account(rt)
    assert account.intake_status == "active" and account.intake_error is None
    assert me_status(fake_x, rt.box.open(account.credentials)["access_token"]) == 200


def test_without_a_channel_nothing_is_connected_and_the_tokens_are_revoked(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    page = connect(rt, fake_slack, channel=None)
    assert page.status_code == 400
    assert "which Slack channel @brand&#x27;s mentions go to" in page.text
    assert "ROOST_DEFAULT_CHANNEL" in page.text
    with rt.sessions() as session:
        assert session.scalars(select(Account)).all() == []
    revoked = fake_x.calls_to("/2/oauth2/revoke", "POST")
    assert [dict(parse_qsl(c.body.decode()))["token_type_hint"] for c in revoked] == [
        "refresh_token",
        "access_token",
    ]
    access_token = dict(parse_qsl(revoked[1].body.decode()))["token"]
    assert me_status(fake_x, access_token) == 401

    rt.settings = rt.settings.model_copy(update={"roost_default_channel": OTHER_CHANNEL})
    assert connect(rt, fake_slack, channel=None).status_code == 200
    assert the_account(rt).channel_id == OTHER_CHANNEL


# --- refused callbacks -------------------------------------------------------------------------


def test_a_state_roost_did_not_make_is_refused(
    rt: Runtime, fake_x: FakeX, client_id: str, roost_url: str
) -> None:
    for query in ("?state=forged&code=abc", "?code=abc", ""):
        page = requests.get(f"{roost_url}/x/oauth/callback{query}", timeout=5)
        assert page.status_code == 400
        assert "This link is not one Roost made, so nothing was connected" in page.text
        assert "Connect an account" in page.text
    assert fake_x.calls_to("/2/oauth2/token") == []


def test_a_replayed_callback_is_refused(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    first = connect(rt, fake_slack)
    assert first.status_code == 200

    again = requests.get(first.url, timeout=5)
    assert again.status_code == 400
    assert "This link was already used" in again.text
    assert token_grants(fake_x, "authorization_code") == 1


def test_of_two_callbacks_racing_with_one_state_one_connects(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    back = consent_code(rt, fake_slack)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def callback() -> None:
        barrier.wait()
        try:
            outcomes.append(complete(rt, state=back["state"], code=back["code"], error=None).handle)
        except ConnectRefused as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=callback) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [
        "This link was already used. If the account is not connected yet, start again from "
        'Slack with "Connect an account".',
        "brand",
    ]
    assert token_grants(fake_x, "authorization_code") == 1


def test_an_expired_state_is_refused(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    url = authorize_url(rt, team_id=fake_slack.team_id, user_id=LEAD, channel_id=BRAND_CHANNEL)
    later = rt.clock() + STATE_TTL + timedelta(seconds=1)
    rt.clock = lambda: later

    page = requests.get(url, timeout=10)
    assert page.status_code == 400
    assert "This link expired (links work for 10 minutes): start again from Slack" in page.text
    assert fake_x.calls_to("/2/oauth2/token") == []
    with rt.sessions() as session:
        assert session.scalars(select(Account)).all() == []


def test_declining_at_x_says_so(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    fake_x.deny_consent()
    page = connect(rt, fake_slack)

    assert page.status_code == 400
    assert "X said: access_denied — you declined, so nothing was connected" in page.text
    assert fake_x.calls_to("/2/oauth2/token") == []
    with rt.sessions() as session:
        assert session.scalars(select(Account)).all() == []
    # The link is spent: coming back with it again does not connect either.
    again = requests.get(page.url, timeout=5)
    assert again.status_code == 400 and "already used" in again.text


def test_the_page_escapes_what_x_sent(
    rt: Runtime, fake_slack: FakeSlack, client_id: str, roost_url: str
) -> None:
    state = consent_code(rt, fake_slack)["state"]
    page = requests.get(
        f"{roost_url}/x/oauth/callback",
        params={"state": state, "error": "<script>alert(1)</script>"},
        timeout=5,
    )
    assert page.status_code == 400
    assert "X said: &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text


def test_a_code_x_does_not_accept_is_refused(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str, roost_url: str
) -> None:
    state = consent_code(rt, fake_slack)["state"]
    page = requests.get(
        f"{roost_url}/x/oauth/callback", params={"state": state, "code": "stale"}, timeout=5
    )
    assert page.status_code == 400
    assert "X did not accept this authorization (Value passed for the authorization code" in (
        page.text
    )


def test_x_failing_during_the_exchange_answers_502(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    fake_x.fail("/2/oauth2/token", 503)
    page = connect(rt, fake_slack)
    assert page.status_code == 502
    assert "X is failing (503) while exchanging the authorization code." in page.text


def test_the_callback_is_served_in_socket_mode_too(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str, roost_url: str
) -> None:
    rt.settings = rt.settings.model_copy(update={"slack_app_token": SecretStr("xapp-1-test")})
    assert rt.settings.socket_mode
    assert requests.post(f"{roost_url}/slack/events", timeout=5).status_code == 404
    assert connect(rt, fake_slack).status_code == 200
    assert requests.post(f"{roost_url}/x/oauth/callback", timeout=5).status_code == 405


# --- tokens at rest ----------------------------------------------------------------------------


def test_tokens_are_encrypted_at_rest(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    tokens = tokens_of(rt)

    with rt.engine.connect() as connection:
        dump = " ".join(
            str(row)
            for table in ("accounts", "events", "oauth_states")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert "brand" in dump
    for token in tokens.values():
        assert token not in dump
    assert token not in repr(the_account(rt))


# --- refreshing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_kind", "credentials", "expires_in", "due"),
    [
        ("oauth2", {"access_token": "a", "refresh_token": "r"}, timedelta(hours=1), False),
        ("oauth2", {"access_token": "a", "refresh_token": "r"}, REFRESH_AHEAD, True),
        ("oauth2", {"access_token": "a", "refresh_token": "r"}, -timedelta(hours=1), True),
        ("oauth2", {"access_token": "a", "refresh_token": "r"}, None, True),
        ("oauth2", {"access_token": "a"}, -timedelta(hours=1), False),
        ("oauth1", {"access_token": "a", "refresh_token": "r"}, None, False),
    ],
)
def test_refresh_due(
    auth_kind: str, credentials: dict[str, str], expires_in: timedelta | None, due: bool
) -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    expires_at = None if expires_in is None else now + expires_in
    assert refresh_due(auth_kind, credentials, expires_at, now) is due


def test_no_refresh_is_due_so_redis_is_not_asked(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    account = the_account(rt)
    rt.redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens

    assert x_client(rt, account).me()["username"] == "brand"
    assert fresh_credentials(rt, account) == tokens_of(rt)
    assert token_grants(fake_x, "refresh_token") == 0


def test_an_access_token_is_refreshed_before_it_expires(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    account = the_account(rt)
    old = tokens_of(rt)
    now = make_due(rt)

    assert x_client(rt, account).me()["username"] == "brand"

    assert token_grants(fake_x, "refresh_token") == 1
    new = tokens_of(rt)
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert the_account(rt).token_expires_at == now + timedelta(seconds=7200)
    # The stale instance the caller holds still gets the new tokens, without a second refresh.
    assert fresh_credentials(rt, account) == new
    assert fresh_credentials(rt, the_account(rt)) == new
    assert token_grants(fake_x, "refresh_token") == 1


def test_tokens_that_expire_quickly_are_refreshed_on_next_use(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    fake_x.token_seconds = 60  # inside REFRESH_AHEAD from the start
    connect(rt, fake_slack)
    assert x_client(rt, the_account(rt)).me()["username"] == "brand"
    assert token_grants(fake_x, "refresh_token") == 1


def test_tokens_of_unknown_expiry_are_refreshed_once_if_roost_can(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    """As `roost accounts add --oauth2-access-token --oauth2-refresh-token` stores them."""
    connect(rt, fake_slack)
    with rt.sessions.begin() as session:
        session.execute(update(Account).values(token_expires_at=None))
    given = tokens_of(rt)
    configured = rt.settings
    rt.settings = configured.model_copy(update={"x_client_id": None})
    assert fresh_credentials(rt, the_account(rt)) == given
    assert token_grants(fake_x, "refresh_token") == 0

    rt.settings = configured
    assert fresh_credentials(rt, the_account(rt)) != given
    assert token_grants(fake_x, "refresh_token") == 1
    assert the_account(rt).token_expires_at is not None


def test_two_threads_refreshing_at_once_make_one_refresh(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    account = the_account(rt)
    make_due(rt)
    fake_x.slow("/2/oauth2/token", 0.3, times=2)  # the first holds the lease a while
    barrier = threading.Barrier(3)
    results: list[dict[str, str]] = []

    def use() -> None:
        barrier.wait()
        results.append(fresh_credentials(rt, account))

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert token_grants(fake_x, "refresh_token") == 1
    assert len(results) == 3 and results[0] == results[1] == results[2] == tokens_of(rt)
    assert me_status(fake_x, results[0]["access_token"]) == 200


CHILD = """
import json, sys
from bot.team.credentials import fresh_credentials
from bot.settings import load_settings
from bot.wiring import runtime_from
from storage.models import Account

rt = runtime_from(load_settings())
with rt.sessions() as session:
    account = session.get_one(Account, int(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(fresh_credentials(rt, account)), flush=True)
"""


def test_two_processes_refreshing_at_once_make_one_refresh(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    client_id: str,
    roost_url: str,
    db_url: str,
    redis_server: str,
    tmp_path: Path,
) -> None:
    connect(rt, fake_slack)
    account = the_account(rt)
    with rt.sessions.begin() as session:  # due by the real clock the processes read
        session.execute(
            update(Account).values(token_expires_at=datetime.now(UTC) + timedelta(minutes=1))
        )
    fake_x.slow("/2/oauth2/token", 0.5, times=2)
    assert rt.settings.roost_secret_key is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_server,
        "ROOST_SECRET_KEY": rt.settings.roost_secret_key.get_secret_value(),
        "ROOST_VAR_DIR": str(tmp_path / "child"),
        "X_API_URL": fake_x.url,
        "X_CLIENT_ID": client_id,
        "ROOST_PUBLIC_URL": roost_url,
        "SLACK_BOT_TOKEN": "xoxb-unused",
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(account.id)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    results = [json.loads(stdout) for stdout, stderr in outputs]

    assert [child.returncode for child in children] == [0, 0], outputs
    assert token_grants(fake_x, "refresh_token") == 1
    assert results[0] == results[1] == tokens_of(rt)
    assert me_status(fake_x, results[0]["access_token"]) == 200


def test_a_refresh_token_x_refuses_asks_for_a_reconnect(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    fake_x.revoke(tokens_of(rt)["refresh_token"])
    account = the_account(rt)
    make_due(rt)

    with pytest.raises(XTokenRevoked) as raised:
        x_client(rt, account)
    message = str(raised.value)
    assert message.startswith("X refused @brand's refresh token")
    assert 'Reconnect the account with "Connect an account" in Slack.' in message
    assert the_account(rt).credentials == account.credentials  # nothing half-stored


# --- disconnecting -----------------------------------------------------------------------------


def test_disconnect_revokes_at_x_and_forgets_the_tokens(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    tokens = tokens_of(rt)
    account = the_account(rt)

    disconnect(rt, account.id, actor=LEAD)

    revoked = [dict(parse_qsl(c.body.decode())) for c in fake_x.calls_to("/2/oauth2/revoke")]
    assert [(form["token"], form["token_type_hint"]) for form in revoked] == [
        (tokens["refresh_token"], "refresh_token"),
        (tokens["access_token"], "access_token"),
    ]
    assert me_status(fake_x, tokens["access_token"]) == 401
    gone = the_account(rt)
    assert rt.box.open(gone.credentials) == {}
    assert gone.token_expires_at is None
    assert gone.intake_status == "disconnected"
    assert ("account.disconnected", LEAD) in events(rt)
    with pytest.raises(XTokenRevoked, match='disconnected from Roost. Reconnect it with "Connect'):
        x_client(rt, gone)
    with pytest.raises(RoostError, match="not in Roost"):
        disconnect(rt, 999, actor=LEAD)


def test_disconnect_forgets_the_tokens_even_when_x_fails_to_revoke(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    client_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    connect(rt, fake_slack)
    fake_x.fail("/2/oauth2/revoke", 503, times=2)

    disconnect(rt, the_account(rt).id, actor=LEAD)

    assert rt.box.open(the_account(rt).credentials) == {}
    assert the_account(rt).intake_status == "disconnected"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not revoke @brand's tokens (refresh_token)" in w for w in warnings)


def test_disconnecting_a_stopped_account_marks_it_disconnected(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    connect(rt, fake_slack)
    account = the_account(rt)
    Intake(rt).stop(account, XTokenRevoked("revoked at X"))
    assert the_account(rt).intake_status == "revoked"

    disconnect(rt, account.id, actor=LEAD)
    assert the_account(rt).intake_status == "disconnected"


# --- secrets stay out of the logs --------------------------------------------------------------


def test_tokens_never_reach_the_logs(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    client_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every token Roost handles is remembered as a secret, so the filter the entry points
    put on their log handler scrubs it wherever it shows (tweepy logs its bearer header at
    DEBUG, for one); and Roost's own log lines never carry one at all."""
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(redacting_filter)
    raw: list[str] = []

    class Raw(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raw.append(record.getMessage())

    ours = Raw()
    for name in ("bot", "storage"):
        logging.getLogger(name).addHandler(ours)
    seen: set[str] = set()
    try:
        connect(rt, fake_slack)
        seen.update(tokens_of(rt).values())
        make_due(rt)
        x_client(rt, the_account(rt)).me()
        seen.update(tokens_of(rt).values())
        fake_x.fail("/2/oauth2/revoke", 400, body={"error": "invalid_request"})
        disconnect(rt, the_account(rt).id, actor=LEAD)
        run_jobs(rt)
    finally:
        for name in ("bot", "storage"):
            logging.getLogger(name).removeHandler(ours)

    assert len(seen) == 4
    assert seen <= redacting_filter.secrets
    assert caplog.records and raw
    for logged in [r.getMessage() + (r.exc_text or "") for r in caplog.records] + raw:
        for token in seen:
            assert token not in logged


def test_the_listener_refreshes_a_token_about_to_lapse_between_polls(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    from bot.inbox.intake import Intake

    connect(rt, fake_slack)
    intake = Intake(rt)
    intake.poll(the_account(rt))  # the client is kept between polls
    make_due(rt)
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane", text="@brand still there?")
    assert intake.poll(the_account(rt)) == 1
    assert token_grants(fake_x, "refresh_token") == 1


def test_a_refresh_racing_a_key_rotation_keeps_the_new_pair(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, client_id: str
) -> None:
    import threading

    connect(rt, fake_slack)
    account = the_account(rt)
    make_due(rt)
    fake_x.slow("/2/oauth2/token", 1.0)  # X takes the refresh at once and answers late
    refreshed: list[dict[str, str]] = []
    worker = threading.Thread(target=lambda: refreshed.append(fresh_credentials(rt, account)))
    worker.start()
    wait_for(lambda: token_grants(fake_x, "refresh_token") == 1)
    # Meanwhile `roost keys rotate` seals the same (now spent) tokens anew.
    with rt.sessions.begin() as session:
        stored = session.get_one(Account, account.id)
        stored.credentials = rt.box.seal(rt.box.open(stored.credentials))
    worker.join(timeout=10)
    (new,) = refreshed
    assert tokens_of(rt) == new and new["refresh_token"] != tokens_of_before(account, rt)
    assert me_status(fake_x, new["access_token"]) == 200


def tokens_of_before(account: Account, rt: Runtime) -> str:
    return rt.box.open(account.credentials)["refresh_token"]

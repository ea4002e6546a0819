"""Tokens never reach a log line, even with tweepy logging whole requests."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import select, update

from bot.cli import main
from bot.inbox.intake import Intake
from bot.logs import REDACTED, configure_logging, redacting_filter, remember_secret, scrub
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.settings import Settings
from bot.team.people import Who
from bot.x.client import XClient
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention
from storage.team import grant, member, set_cotag
from tests.conftest import AGENT, BRAND_CHANNEL, run_jobs


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the entry points' logging writes, captured."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    yield stream
    root.handlers[:], root.level = saved
    logging.getLogger("tweepy").setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    "line",
    [
        "Headers: {'Authorization': 'Bearer abcDEF123-_.~+/='}",
        'Authorization: OAuth oauth_consumer_key="ck123", oauth_token="tok123", '
        'oauth_signature="sig%3D"',
        "token=xoxb-1234-5678-abcdef",
        "app token xapp-1-A123-456-abc",
        "{'access_token': 'at-123', 'refresh_token': 'rt-456'}",
    ],
)
def test_credential_shapes_are_scrubbed(line: str) -> None:
    cleaned = scrub(line)
    for secret in ("abcDEF123", "ck123", "tok123", "sig%3D", "5678-abcdef", "A123-456", "at-123"):
        assert secret not in cleaned
    assert REDACTED in cleaned


def test_tokens_never_appear_in_logs(written: io.StringIO, fake_x: FakeX) -> None:
    user = fake_x.add_user("brand")
    token = fake_x.issue_token(user["id"])
    keys = fake_x.issue_oauth1(user["id"])
    remember_secret(token)
    for key in keys:
        remember_secret(key)
    # Someone debugging turns tweepy all the way up: it logs every header it sends.
    logging.getLogger("tweepy").setLevel(logging.DEBUG)
    XClient("oauth2", {"access_token": token}, base_url=fake_x.url).me()
    oauth1 = dict(
        zip(
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
            keys,
            strict=True,
        )
    )
    XClient("oauth1", oauth1, base_url=fake_x.url).me()
    try:
        raise RuntimeError(f"call failed with token {token}")
    except RuntimeError:
        logging.getLogger("roost").exception("while testing %s", keys[3])

    logged = written.getvalue()
    assert "Making API request" in logged  # tweepy did log the requests...
    assert "RuntimeError: call failed with token [redacted]" in logged
    for secret in (token, *keys):
        assert secret not in logged  # ...without a single credential


# --- end to end ------------------------------------------------------------------

LIBRARIES = (
    "tweepy",
    "urllib3",
    "requests",
    "requests_oauthlib",
    "oauthlib",
    "slack_sdk",
    "slack_bolt",
    "rq",
    "sqlalchemy",
)
"""Libraries that log requests or jobs: all at DEBUG, as someone debugging would set them."""

RAW_CREDENTIAL_SOURCES = {
    "tweepy.client",  # each request's headers: "Authorization: Bearer <access token>"
    "requests_oauthlib.oauth1_auth",  # the client's consumer key and access token; headers
    "oauthlib.oauth1.rfc5849",  # the OAuth 1.0a parameters and signature base string
}
"""The loggers that hand credentials to logging at DEBUG; the root handler's filter scrubs them.
Roost's own modules hand it none."""

OWN_HANDLERS = {"push_response"}
"""Loggers that libraries give a handler of their own (redis-py: RESP3 push notices, which
carry key names, never credentials); any other would write around Roost's filter."""


class Everything(logging.Handler):
    """Keeps every record as it arrives, before Roost's filter: where credentials come from."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.raw: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.raw.append((record.name, text))


@pytest.fixture
def process_logging(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[io.StringIO, Everything]]:
    """Logging as `roost` sets it up, everything at DEBUG: what it writes, and the raw records.

    caplog's handler goes after Roost's on the root, where any other handler would be.
    """
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    everything = Everything()
    # Only what Roost's code remembers counts, not what earlier tests left behind.
    monkeypatch.setattr(redacting_filter, "secrets", set())

    def configure(level: str = "INFO", _: object = None) -> None:
        configure_logging("DEBUG", stream)
        root.handlers.insert(0, everything)
        root.addHandler(caplog.handler)
        for name in LIBRARIES:
            logging.getLogger(name).setLevel(logging.DEBUG)

    monkeypatch.setattr("bot.cli.configure_logging", configure)  # main() calls it again
    configure()
    yield stream, everything
    root.handlers[:], root.level = saved
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)


CALLBACK = "https://roost.test/x/oauth/callback"


def oauth2_pair(fake_x: FakeX, handle: str, client_id: str, secret: str) -> dict[str, str]:
    """An access and a refresh token from the fake X's consent page and token endpoint."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    fake_x.consent_as(handle)
    consent = requests.get(
        f"{fake_x.url}/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "tweet.read tweet.write users.read offline.access",
            "state": "s",
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=5,
    )
    code = dict(parse_qsl(urlsplit(consent.headers["Location"]).query))["code"]
    answer = requests.post(
        f"{fake_x.url}/2/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    pair: dict[str, str] = answer.json()
    return pair


def test_no_credential_reaches_a_log_record_from_adding_accounts_to_replying(
    process_logging: tuple[io.StringIO, Everything],
    caplog: pytest.LogCaptureFixture,
    rt: Runtime,
    db_url: str,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`roost accounts add` (OAuth 2.0 and 1.0a), a poll, cards, a reply from each account."""
    written, everything = process_logging
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    assert rt.settings.roost_secret_key is not None
    monkeypatch.setenv("ROOST_SECRET_KEY", rt.settings.roost_secret_key.get_secret_value())
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("X_API_URL", fake_x.url)
    client_id, client_secret = fake_x.register_client(CALLBACK, confidential=True)
    assert client_secret is not None
    rt.settings = rt.settings.model_copy(
        update={"x_client_id": client_id, "x_client_secret": SecretStr(client_secret)}
    )

    fake_x.add_user("brand")
    first = oauth2_pair(fake_x, "brand", client_id, client_secret)
    jp = fake_x.add_user("brandjp")
    consumer_key, consumer_secret, oauth1_token, oauth1_secret = fake_x.issue_oauth1(jp["id"])
    add = ["accounts", "add", "--channel", BRAND_CHANNEL, "--handle"]
    oauth2 = [f"--oauth2-access-token={first['access_token']}"]
    oauth2 += [f"--oauth2-refresh-token={first['refresh_token']}"]
    assert main([*add, "brand", *oauth2]) == 0
    oauth1 = [f"--consumer-key={consumer_key}", f"--consumer-secret={consumer_secret}"]
    oauth1 += [f"--access-token={oauth1_token}", f"--access-token-secret={oauth1_secret}"]
    assert main([*add, "brandjp", *oauth1]) == 0
    with rt.sessions.begin() as session:
        # Added a minute ago, so that the mentions posted now count as new.
        session.execute(update(Account).values(created_at=rt.clock() - timedelta(minutes=1)))

    fake_x.add_user("jane", name="Jane Doe")
    for handle in ("brand", "brandjp"):
        fake_x.post_mention(handle, author="jane", text=f"@{handle} my phone will not turn on")
    with rt.sessions() as session:
        accounts = list(session.scalars(select(Account).order_by(Account.id)))
    intake = Intake(rt)
    assert [intake.poll(account) for account in accounts] == [1, 1]
    run_jobs(rt)  # the cards
    with rt.sessions.begin() as session:
        agent = member(session, fake_slack.team_id, AGENT, rt.clock())
        set_cotag(session, agent, "^BK", rt.clock())
        for account in accounts:
            grant(session, account, agent, "agent", rt.clock())
        mentions = list(session.scalars(select(Mention.id).order_by(Mention.id)))
    for mention in mentions:
        draft = dataclasses.replace(Draft.new(mention, "reply"), text="@jane we are on it")
        assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)  # the replies
    assert len(fake_x.posts_by("brand")) == len(fake_x.posts_by("brandjp")) == 1

    with rt.sessions() as session:
        latest = rt.box.open(session.get_one(Account, accounts[0].id).credentials)
    credentials = {
        "OAuth 2.0 access token": first["access_token"],
        "OAuth 2.0 refresh token": first["refresh_token"],
        # X's tokens expire: the first use may have refreshed the pair.
        "refreshed access token": latest["access_token"],
        "refreshed refresh token": latest.get("refresh_token", first["refresh_token"]),
        "X client secret": client_secret,
        "consumer key": consumer_key,
        "consumer secret": consumer_secret,
        "OAuth 1.0a access token": oauth1_token,
        "OAuth 1.0a access token secret": oauth1_secret,
        "Slack bot token": fake_slack.bot_token,
    }

    def found(text: str) -> list[str]:
        return [what for what, secret in credentials.items() if secret in text]

    leaks = [
        f"{what} in {record.name}: {record.getMessage()[:200]!r}"
        for record in caplog.records
        for what in found(record.getMessage() + (record.exc_text or ""))
    ]
    leaks += [f"{what} written" for what in found(written.getvalue())]
    assert leaks == []
    assert any(record.name == "tweepy.client" for record in caplog.records)
    assert REDACTED in written.getvalue()

    # The filter did the scrubbing, and only what these libraries logged needed it.
    sources = {name for name, text in everything.raw if found(text)}
    assert "tweepy.client" in sources
    assert sources <= RAW_CREDENTIAL_SOURCES, sources - RAW_CREDENTIAL_SOURCES
    # Nothing writes around the root handler and its filter.
    handlers = {
        name: [h for h in found_logger.handlers if not isinstance(h, logging.NullHandler)]
        for name, found_logger in logging.root.manager.loggerDict.items()
        if isinstance(found_logger, logging.Logger)
    }
    assert {name for name, own in handlers.items() if own} <= OWN_HANDLERS

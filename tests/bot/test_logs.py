"""Tokens never reach a log line, even with tweepy logging whole requests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, configure_logging, remember_secret, scrub
from bot.xapi import XClient
from tests.fakes.x_api import FakeX


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

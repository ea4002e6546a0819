"""Slack's 429s: the web waits them out; a worker waits out only short ones, and hands a
longer one to its job, which is queued again for when Slack allows."""

from __future__ import annotations

import time

import pytest

from bot.errors import SlackRateLimited
from bot.slack.client import WORKER_MAX_WAIT, make_client, translate_errors
from tests.fakes.slack_api import FakeSlack


def test_a_worker_waits_out_a_short_429_and_hands_a_long_one_back_at_once(
    fake_slack: FakeSlack,
) -> None:
    worker = make_client(fake_slack.bot_token, fake_slack.url, max_wait=WORKER_MAX_WAIT)
    fake_slack.fail("auth.test", retry_after=1)
    assert worker.auth_test()["ok"]  # slept a second, then through

    fake_slack.fail("auth.test", retry_after=30)
    started = time.monotonic()
    with pytest.raises(SlackRateLimited) as limited, translate_errors("auth.test"):
        worker.auth_test()
    assert time.monotonic() - started < 1 and limited.value.retry_after == 30

"""Slack's 429s: the web waits them out; a worker waits out only short ones, and hands a
longer one to its job, which is queued again for when Slack allows."""

from __future__ import annotations

import time

import pytest
from redis import Redis

from bot.errors import SlackRateLimited
from bot.slack.client import WORKER_MAX_WAIT, make_client, translate_errors
from bot.slack.pace import Pace, prepaid, without_waiting
from sandbox.slack_api import FakeSlack


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


def test_every_message_keeps_to_the_shared_pace_so_slack_never_has_to_refuse(
    fake_slack: FakeSlack, redis: Redis
) -> None:
    """Two clients (two processes) share one pace: together they post no faster than it,
    a card delivery refused a token is told at once with nothing sent, and a call whose
    token was taken already (the surge cards') takes no second one."""
    fake_slack.add_channel("C0PACED", "paced")
    fake_slack.enforce_limits()
    pace = Pace(redis)  # Slack's: a message a second in a channel, three at once
    one, other = (make_client(fake_slack.bot_token, fake_slack.url, pace=pace) for _ in "ab")
    started = time.monotonic()
    for n in range(5):
        (one if n % 2 else other).chat_postMessage(channel="C0PACED", text=f"message {n}")
    assert time.monotonic() - started >= 1.9  # three at once, then one a second
    assert fake_slack.rate_limited == 0

    with without_waiting(), pytest.raises(SlackRateLimited) as refused:
        one.chat_postMessage(channel="C0PACED", text="a card")
    assert refused.value.retry_after == 1.0
    assert len(fake_slack.messages("C0PACED")) == 5  # the card never reached Slack

    assert pace.may("chat.postMessage", "C0PACED") or pace.wait(
        "chat.postMessage", "C0PACED", longest=1
    )
    with prepaid():
        one.chat_postMessage(channel="C0PACED", text="paid for")
    assert len(fake_slack.messages("C0PACED")) == 6 and fake_slack.rate_limited == 0

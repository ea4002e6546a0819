"""Sending outbound rows exactly once, through X's faults: the fake X, a real Redis, both DBs."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from bot.inbox.cards import ACTION_CHECK, ACTION_RETRY
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.outbound.sending import (
    SENDING_STALE,
    reconcile_outbound,
    send_outbound,
    sweep_outbound,
)
from bot.runtime import Runtime
from bot.slack.client import make_client
from bot.slack.pace import Pace
from bot.team.people import Who
from bot.team.setup import list_accounts
from bot.worker import REDIS_EPOCH_KEY
from bot.x.client import READ_RETRIES
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention, Outbound
from storage.outbound import claim_for_sending
from tests.conftest import AGENT, BRAND_CHANNEL, REPO_ROOT, run_jobs, wait_for


def mention_of(rt: Runtime) -> Mention:
    with rt.sessions() as session:
        return session.scalars(select(Mention)).one()


def row(rt: Runtime) -> Outbound:
    with rt.sessions() as session:
        return session.scalars(select(Outbound)).one()


def publish(rt: Runtime, fake_slack: FakeSlack, text: str, kind: str = "reply") -> Outbound:
    """The agent publishes a reply (or DM) to @jane's mention; its send is queued."""
    draft = dataclasses.replace(Draft.new(mention_of(rt).id, kind), text=text)
    checked = acting.publish(rt, Who(fake_slack.team_id, AGENT), draft)
    assert checked.ok, checked.problems
    return row(rt)


def scheduled_sends(rt: Runtime) -> list[str]:
    """Scheduled jobs other than the cards' SLA reminders."""
    found = ScheduledJobRegistry(queue=rt.team_queue).get_job_ids()
    return [job_id for job_id in found if not job_id.startswith("sla-reminder-")]


def card_text(fake_slack: FakeSlack, card: dict[str, Any]) -> str:
    return str(fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"])


def thread_text(fake_slack: FakeSlack, card: dict[str, Any]) -> str:
    return "\n".join(m["text"] for m in fake_slack.thread(BRAND_CHANNEL, card["ts"]))


def test_a_429_waits_for_xs_reset_then_sends_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    fake_x.fail("/2/tweets", 429, reset_in=600, method="POST")
    publish(rt, fake_slack, "@jane hello")
    run_jobs(rt)

    waiting = row(rt)
    assert waiting.status == "pending" and waiting.run_at is not None
    assert waiting.run_at > rt.clock() + timedelta(minutes=9)
    assert len(scheduled_sends(rt)) == 1
    assert "rate-limited" in thread_text(fake_slack, jane_card)
    assert fake_x.posts_by("brand") == []

    # At the reset, the scheduled job runs; a duplicate job for the row changes nothing.
    assert waiting.run_at is not None
    reset = waiting.run_at + timedelta(seconds=1)
    rt.clock = lambda: reset
    send_outbound(waiting.id)
    send_outbound(waiting.id)
    assert len(fake_x.posts_by("brand")) == 1
    assert row(rt).status == "sent"


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("revoked", "revoked or has expired. Reconnect the account"),
        ("deleted", "deleted"),
        ("forbidden", "forbids"),
    ],
)
def test_x_refusing_a_reply_ends_in_a_clear_message_on_the_card(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    jane_card: dict[str, Any],
    fault: str,
    said: str,
) -> None:
    if fault == "revoked":
        with rt.sessions() as session:
            sealed = session.get_one(Account, brand.id).credentials
        fake_x.revoke(rt.box.open(sealed)["access_token"])
    elif fault == "deleted":
        fake_x.delete_tweet(str(mention_of(rt).tweet_id))
    else:
        fake_x.fail("/2/tweets", 403, method="POST")
    publish(rt, fake_slack, "@jane hello")
    run_jobs(rt)

    failed = row(rt)
    assert failed.status == "failed" and said in (failed.error or "")
    assert said in card_text(fake_slack, jane_card)
    assert said in thread_text(fake_slack, jane_card)
    assert ACTION_RETRY in card_text(fake_slack, jane_card)
    assert fake_x.posts_by("brand") == []
    assert mention_of(rt).first_response_at is None


def test_dms_closed_by_the_recipient_is_said_plainly(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    fake_x.close_dms(fake_x.user_id("jane"))
    publish(rt, fake_slack, "Can you send your order number?", kind="dm")
    run_jobs(rt)
    failed = row(rt)
    assert failed.status == "failed"
    assert "@jane does not accept DMs" in (failed.error or "")
    assert "does not accept DMs" in card_text(fake_slack, jane_card)


def test_a_lost_answer_is_reconciled_from_the_accounts_posts_never_resent(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    fake_x.lose_answer("/2/tweets", method="POST")
    publish(rt, fake_slack, "@jane the fix is in & on its way")
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    sent = row(rt)
    assert (sent.status, sent.x_id) == ("sent", str(post["id"]))
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 1
    assert mention_of(rt).first_response_at is not None


def test_an_outcome_that_cannot_be_checked_is_unknown_until_a_person_checks(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    fake_x.lose_answer("/2/tweets", method="POST")
    fake_x.fail(f"/2/users/{brand.x_user_id}/tweets", 503, times=READ_RETRIES + 1)
    publish(rt, fake_slack, "@jane hello")
    run_jobs(rt)

    unknown = row(rt)
    assert unknown.status == "unknown"
    shown = card_text(fake_slack, jane_card)
    assert "unknown whether X took it" in shown
    assert ACTION_CHECK in shown and ACTION_RETRY in shown
    # An automatic second look is scheduled; a person can also press Check again.
    assert len(scheduled_sends(rt)) == 1
    acting.check_again(rt, Who(fake_slack.team_id, AGENT), unknown.id)
    run_jobs(rt)
    assert row(rt).status == "sent"
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 1


def test_x_unreachable_means_nothing_was_sent_so_it_tries_again_later(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    fake_x.stop()  # connection refused: the request never reached X
    publish(rt, fake_slack, "@jane hello")
    run_jobs(rt)
    waiting = row(rt)
    assert waiting.status == "pending" and waiting.run_at is not None
    assert "could not be reached" in (waiting.error or "")


def test_the_sweep_sends_a_row_whose_job_was_lost(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    publish(rt, fake_slack, "@jane hello")
    rt.redis.flushdb()  # the queued send is gone
    assert sweep_outbound(rt, brand.id) == 0  # at first it may just be waiting its turn
    later = rt.clock() + timedelta(minutes=2)
    rt.clock = lambda: later
    assert sweep_outbound(rt, brand.id) == 1
    run_jobs(rt)
    assert row(rt).status == "sent"
    assert len(fake_x.posts_by("brand")) == 1


def test_a_worker_killed_after_x_answered_is_reconciled_not_resent(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    jane_card: dict[str, Any],
    db_url: str,
    redis_server: str,
) -> None:
    """A real process sends the row and is SIGKILLed once X has the post, before it
    can mark the row sent. The sweep reconciles it from the account's posts."""
    fake_x.slow("/2/tweets", 30.0)  # X takes the post, then holds its answer
    pending = publish(rt, fake_slack, "@jane on our way")
    rt.team_queue.empty()
    settings = rt.settings
    assert settings.roost_secret_key and settings.slack_bot_token
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_server,
        "X_API_URL": settings.x_api_url,
        "SLACK_API_URL": settings.slack_api_url,
        "SLACK_BOT_TOKEN": settings.slack_bot_token.get_secret_value(),
        "ROOST_SECRET_KEY": settings.roost_secret_key.get_secret_value(),
        "ROOST_VAR_DIR": str(settings.roost_var_dir),
    }
    script = (
        "from bot.runtime import install\n"
        "from bot.settings import Settings\n"
        "from bot.outbound.sending import send_outbound\n"
        "from bot.wiring import runtime_from\n"
        "install(runtime_from(Settings(_env_file=None)))\n"
        f"send_outbound({pending.id})\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO_ROOT)
    try:
        wait_for(lambda: fake_x.posts_by("brand"), timeout=20)
        assert row(rt).status == "sending"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    # Not yet stale: a live worker might still be waiting for X, so nothing moves.
    assert sweep_outbound(rt, brand.id) == 0
    later = rt.clock() + SENDING_STALE + timedelta(seconds=1)
    rt.clock = lambda: later
    assert sweep_outbound(rt, brand.id) == 1
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    settled = row(rt)
    assert (settled.status, settled.x_id) == ("sent", str(post["id"]))
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 1


def interrupted(rt: Runtime, outbound: Outbound) -> None:
    """The row's send began in a worker that then died (SIGKILL) before recording anything,
    as far as anyone can tell: Redis has held its data a while, and no liveness is left."""
    rt.team_queue.empty()
    rt.redis.set(REDIS_EPOCH_KEY, time.time() - 60)
    with rt.sessions.begin() as session:
        assert claim_for_sending(session, outbound.id, rt.clock(), by="gone-worker")


def test_a_send_cut_before_x_had_it_goes_again_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    """A worker SIGKILLed between claiming a row and X taking the post left it unknown, and
    the reply was never sent (the chaos benchmark's one lost send)."""
    interrupted(rt, publish(rt, fake_slack, "@jane on our way"))

    rt.team_queue.enqueue(reconcile_outbound, row(rt).id)
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    settled = row(rt)
    assert (settled.status, settled.x_id) == ("sent", str(post["id"]))
    assert "Sent again" not in card_text(fake_slack, jane_card)  # a detail, not news


def test_a_repeat_x_refuses_is_the_rows_own_earlier_try_found(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any], brand: Account
) -> None:
    """Sent again, yet X had the first try after all (listed late): X refuses the repeat,
    and the row settles on the post X has, instead of failing as a duplicate."""
    pending = publish(rt, fake_slack, "@jane on our way ^BK")
    rt.team_queue.empty()
    token = fake_x.issue_token(str(brand.x_user_id))
    requests.post(
        f"{fake_x.url}/2/tweets",
        json={
            "text": pending.text,
            "reply": {"in_reply_to_tweet_id": str(pending.target_tweet_id)},
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).raise_for_status()

    rt.team_queue.enqueue(send_outbound, pending.id)
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    settled = row(rt)
    assert (settled.status, settled.x_id) == ("sent", str(post["id"]))


def test_an_interrupted_dm_is_never_sent_again_unasked(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    interrupted(rt, publish(rt, fake_slack, "Thanks, we're on it", kind="dm"))

    rt.team_queue.enqueue(reconcile_outbound, row(rt).id)
    run_jobs(rt)

    assert row(rt).status == "unknown"
    assert fake_x.dms_between("brand", "jane") == []


def test_a_daily_cap_holds_the_send_until_its_own_reset_and_is_shown(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    jane_card: dict[str, Any],
    db_url: str,
) -> None:
    """X's 24-hour caps were unknown to Roost: it retried at the next 15-minute reset."""
    fake_x.limit_factor = 0.001  # DMs: 1 a quarter hour, and 1 a day
    publish(rt, fake_slack, "First", kind="dm")
    run_jobs(rt)
    draft = dataclasses.replace(Draft.new(mention_of(rt).id, "dm"), text="Second")
    assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)

    with rt.sessions() as session:
        second = session.scalars(select(Outbound).order_by(Outbound.id.desc())).first()
        account = session.get_one(Account, brand.id)
    assert second is not None and second.status == "pending"
    assert second.run_at is not None and second.run_at > rt.clock() + timedelta(hours=23)
    assert "daily cap is spent" in thread_text(fake_slack, jane_card)
    assert account.x_limit == "DMs (daily, for this account)"
    lines = list_accounts(rt.settings.model_copy(update={"database_url": db_url}))
    assert any(
        "X limit spent: DMs (daily, for this account); resumes by itself" in line for line in lines
    )
    assert len(fake_x.dms_between("brand", "jane")) == 1


def test_a_lost_dm_is_not_mistaken_for_an_older_one_with_the_same_words(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    publish(rt, fake_slack, "Thanks, we're on it", kind="dm")
    run_jobs(rt)
    first = row(rt)
    assert first.status == "sent"
    # A week later the same words again; X fails without taking it.
    later = rt.clock() + timedelta(days=7)
    rt.clock = lambda: later
    fake_x.fail("/2/dm_conversations/", 503, method="POST")
    draft = dataclasses.replace(Draft.new(mention_of(rt).id, "dm"), text="Thanks, we're on it")
    acting.publish(rt, Who(fake_slack.team_id, AGENT), draft)
    run_jobs(rt)
    with rt.sessions() as session:
        second = session.scalars(select(Outbound).order_by(Outbound.id.desc())).first()
    assert second is not None and second.status == "unknown" and second.x_id is None
    assert len(fake_x.dms_between("brand", "jane")) == 1


def test_after_a_retry_the_thread_logs_that_it_went_out(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    fake_x.fail("/2/tweets", 403, method="POST")
    failed = publish(rt, fake_slack, "@jane hello")
    run_jobs(rt)
    assert row(rt).status == "failed"
    acting.retry(rt, Who(fake_slack.team_id, AGENT), failed.id)
    run_jobs(rt)
    assert row(rt).status == "sent"
    log = thread_text(fake_slack, jane_card)
    assert "failed" in log and "replied as @brand" in log


def test_a_sent_reply_shows_on_its_card_though_slacks_pace_is_used_up_for_now(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    """In a surge the surge's cards use Slack's pace for updates: the card of a reply
    sent meanwhile still waits its moment and shows "replied", not "Open" for good."""
    pace = Pace(rt.redis)
    rt.slack = make_client(fake_slack.bot_token, fake_slack.url, pace=pace)
    fake_slack.enforce_limits()
    while pace.may("chat.update", BRAND_CHANNEL):
        pass  # the surge's cards took every token there was
    publish(rt, fake_slack, "@jane on its way")
    run_jobs(rt)
    assert row(rt).status == "sent"
    assert "replied as" in card_text(fake_slack, jane_card)
    assert fake_slack.rate_limited == 0

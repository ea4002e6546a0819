"""Monthly X budgets: the channel told at 80% and 100% once, and a hard cap that refuses
sends and pauses intake before a call could pass it, nothing lost."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.inbox.intake import Intake, Listener
from bot.inbox.stream import StreamListener
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.team.admin import parse_budget
from bot.team.budget import keep_spend, month_spent, tell_budgets
from bot.team.people import Who
from bot.x.client import READ_RETRIES
from bot.x.meter import day_key
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention, Outbound, XSpendDay
from tests.conftest import AGENT, BRAND_CHANNEL, run_jobs, wait_for


def set_budget(rt: Runtime, account: Account, cents: int, *, hard: bool = False) -> None:
    with rt.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(x_budget_cents=cents, x_budget_hard=hard)
        )


def notices(fake_slack: FakeSlack) -> list[str]:
    return [
        m["text"]
        for m in fake_slack.messages(BRAND_CHANNEL)
        if "budget" in m["text"] and "thread_ts" not in m
    ]


def mention_id(rt: Runtime) -> int:
    with rt.sessions() as session:
        found: int = session.query(Mention.id).order_by(Mention.id).first()[0]
    return found


def test_the_channel_is_told_at_80_and_at_100_percent_once_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    set_budget(rt, brand, 5)  # five cents a month
    for n in range(5):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)  # 5 posts and jane: 3.5 cents, 70%
    assert tell_budgets(rt) == 0 and notices(fake_slack) == []
    fake_x.post_mention("brand", author="jane", text="@brand five")
    Intake(rt).poll(brand)  # 4 cents: 80%
    tell_budgets(rt)
    tell_budgets(rt)
    (at_80,) = notices(fake_slack)
    assert "used 80% of its X budget" in at_80 and "$0.04 of its $0.05" in at_80
    for n in range(2):
        fake_x.post_mention("brand", author="jane", text=f"@brand more {n}")
    Intake(rt).poll(brand)  # 5 cents: all of it
    tell_budgets(rt)
    tell_budgets(rt)
    assert len(notices(fake_slack)) == 2
    assert "budget for this month is spent" in notices(fake_slack)[-1]
    assert "not a hard cap" in notices(fake_slack)[-1]
    assert month_spent(rt, brand.id, rt.clock().date()) == fake_x.spend("brand")


def test_a_hard_cap_refuses_a_reply_before_anything_is_sent_and_says_why(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    spent = month_spent(rt, brand.id, rt.clock().date())  # jane's post and profile
    set_budget(rt, brand, round(spent * 100) + 0, hard=True)
    who = Who(fake_slack.team_id, AGENT)
    draft = dataclasses.replace(Draft.new(mention_id(rt), "reply"), text="@jane on it")

    checked = acting.publish(rt, who, draft)

    assert not checked.ok
    assert "X budget for this month is spent" in " ".join(p.message for p in checked.problems)
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []
    set_budget(rt, brand, 500, hard=True)  # an owner raises it: the reply goes
    assert acting.publish(rt, who, draft).ok
    run_jobs(rt)
    assert len(fake_x.posts_by("brand")) == 1


def test_a_hard_cap_pauses_intake_until_raised_and_loses_nothing(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    set_budget(rt, brand, 100, hard=True)  # a dollar: less than a full page could cost
    listener = Listener(rt)
    calls = len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions"))
    waiting = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(3)]
    listener.cycle()
    assert len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions")) == calls  # no read
    set_budget(rt, brand, 10_000, hard=True)
    later = rt.clock() + (listener.interval * 2)
    rt.clock = lambda: later
    listener.cycle()
    listener.release_all()
    with rt.sessions() as session:
        stored = {m.tweet_id for m in session.query(Mention)}
    assert {int(t["id"]) for t in waiting} <= stored


def test_a_budget_is_read_from_what_an_owner_types() -> None:
    errors: dict[str, str] = {}
    assert parse_budget("$1,250.50", True, errors) == (125_050, True)
    assert parse_budget("", False, errors) == (None, False) and errors == {}
    parse_budget("", True, errors)
    assert "needs a budget" in errors["budget"]
    parse_budget("fifty", False, errors)
    assert "Dollars a month" in errors["budget"]


def test_a_spent_budget_keeps_confirmations_to_the_cheapest_read(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    """A reply whose answer was lost is looked for on one page of the account's posts, not
    ten, once the month's budget is spent; what that cannot tell stays unknown."""
    set_budget(rt, brand, 1)  # a cent: spent by the card's reads already
    fake_x.lose_answer("/2/tweets", method="POST")
    fake_x.fail(f"/2/users/{brand.x_user_id}/tweets", 503, times=READ_RETRIES + 1)
    draft = dataclasses.replace(Draft.new(mention_id(rt), "reply"), text="@jane on it")
    who = Who(fake_slack.team_id, AGENT)
    assert acting.publish(rt, who, draft).ok
    run_jobs(rt)  # sent, its answer lost, and X could not be asked: unknown
    with rt.sessions() as session:
        (row,) = session.query(Outbound).all()
    assert row.status == "unknown"
    for n in range(150):  # the account posts on: the reply is on page two now
        fake_x.post_mention("jane", author="brand", text=f"@jane news {n}")
    reads = len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/tweets"))

    acting.check_again(rt, who, row.id)
    run_jobs(rt)

    assert len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/tweets")) == reads + 1
    with rt.sessions() as session:
        (row,) = session.query(Outbound).all()
    assert row.status == "unknown" and "budget for this month is spent" in (row.error or "")
    set_budget(rt, brand, 10_000)  # raised: the full look finds it
    acting.check_again(rt, who, row.id)
    run_jobs(rt)
    with rt.sessions() as session:
        assert session.query(Outbound.status).scalar() == "sent"


def test_a_hard_cap_pauses_the_stream_and_a_raised_budget_resumes_it_nothing_lost(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """X bills each post the stream delivers: a hard-capped account's rule goes; raised,
    the rule comes back with a read of the timeline from where intake stopped."""
    fake_x.add_user("jane")
    set_budget(rt, brand, 100, hard=True)  # a dollar: less than a page could cost
    listener = StreamListener(rt, lease_seconds=1.5, retry_seconds=0.2, rules_retry_seconds=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: fake_x.open_streams == 1, timeout=5)
        assert fake_x.rules() == []  # paused: no rule, nothing delivered or billed
        missed = fake_x.post_mention("brand", author="jane", text="@brand while paused")
        set_budget(rt, brand, 10_000, hard=True)
        wait_for(lambda: len(fake_x.rules()) == 1, timeout=5)
        live = fake_x.post_mention("brand", author="jane", text="@brand after")
        wait_for(lambda: stored_ids(rt) >= {int(missed["id"]), int(live["id"])}, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)


def stored_ids(rt: Runtime) -> set[int]:
    with rt.sessions() as session:
        return {m.tweet_id for m in session.query(Mention)}


def test_the_sweep_keeps_spend_in_the_database_and_a_redis_that_lost_it_gets_it_back(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """Redis counts every call; the sweep copies each day to the database. A day Redis
    lost is read from the database, and once Redis counts again, the two add up."""
    fake_x.add_user("jane")
    today = rt.clock().date()
    for n in range(3):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(rt).poll(brand)
    assert keep_spend(rt) == 1  # today; yesterday has nothing in Redis
    assert saved_total(rt, brand) == fake_x.spend("brand") > 0

    rt.redis.delete(day_key(brand.id, today.isoformat()))  # Redis lost its data
    assert month_spent(rt, brand.id, today) == fake_x.spend("brand")
    for n in range(2):
        fake_x.post_mention("brand", author="jane", text=f"@brand after {n}")
    Intake(rt).poll(brand)  # Redis counts from nothing again
    assert month_spent(rt, brand.id, today) == fake_x.spend("brand")

    keep_spend(rt)
    keep_spend(rt)  # a second sweep adds nothing twice
    assert month_spent(rt, brand.id, today) == fake_x.spend("brand")
    assert saved_total(rt, brand) == fake_x.spend("brand")
    rt.redis.delete(day_key(brand.id, today.isoformat()))  # and months after Redis let go
    assert month_spent(rt, brand.id, today) == fake_x.spend("brand")


def saved_total(rt: Runtime, account: Account) -> float:
    with rt.sessions() as session:
        micros = session.scalar(
            select(func.sum(XSpendDay.micros)).where(XSpendDay.account_id == account.id)
        )
    return int(micros or 0) / 1_000_000


def test_a_hard_cap_stops_a_long_read_between_pages_and_the_rest_comes_when_raised(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """A backlog of three pages under a $2 hard cap: one page is read (a page can cost
    $1.50), the cursor stays, the channel is told intake paused; raised, the rest comes."""
    fake_x.add_user("jane")
    set_budget(rt, brand, 200, hard=True)
    waiting = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(300)]
    listener = Listener(rt)
    listener.cycle()
    listener.release_all()
    assert month_spent(rt, brand.id, rt.clock().date()) <= 2.00
    assert fake_x.spend("brand") <= 2.00
    tell_budgets(rt)
    tell_budgets(rt)
    (paused,) = notices(fake_slack)
    assert "paused reading its mentions" in paused and "Nothing is lost" in paused
    set_budget(rt, brand, 10_000, hard=True)
    Intake(rt).poll(brand)
    assert {int(t["id"]) for t in waiting} <= stored_ids(rt)


def test_a_hard_capped_stream_gives_up_its_rule_before_the_cap(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    """X bills each post the stream delivers: the stream counts down what the cap leaves
    short of a page's worth, and its rule goes when that is used, not at the next look."""
    fake_x.add_user("jane")
    set_budget(rt, brand, 200, hard=True)  # $2: half a dollar before the $1.50 margin
    # Its periodic look at the budgets every ten seconds: only the countdown stops it here.
    listener = StreamListener(rt, lease_seconds=30, retry_seconds=30, rules_retry_seconds=60)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(fake_x.rules()) == 1, timeout=5)
        sent = []
        for n in range(200):  # $3 of posts and authors, at a busy minute's pace
            fake_x.add_user(f"fan{n}")
            sent.append(fake_x.post_mention("brand", author=f"fan{n}", text=f"@brand {n}"))
            time.sleep(0.005)
        wait_for(lambda: fake_x.rules() == [], timeout=5)

        def billed() -> float:  # the stream's lines, and back-fills
            return round(fake_x.spend() + fake_x.spend("brand"), 6)

        # Lines X sent before its rule went are still on their way: each is counted.
        wait_for(lambda: month_spent(rt, brand.id, rt.clock().date()) == billed(), timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert billed() <= 2.00
    set_budget(rt, brand, 10_000, hard=True)
    Intake(rt).poll(brand)  # what the stream did not deliver, read from the cursor
    assert {int(t["id"]) for t in sent} <= stored_ids(rt)


def test_an_owner_raising_a_spent_budget_is_told_again_when_the_new_one_is_met(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    set_budget(rt, brand, 1)
    fake_x.post_mention("brand", author="jane", text="@brand hello")
    Intake(rt).poll(brand)  # 1.5 cents: all of a cent
    tell_budgets(rt)
    set_budget(rt, brand, 2)
    tell_budgets(rt)  # 75% of the new one: nothing new
    fake_x.post_mention("brand", author="jane", text="@brand again")
    Intake(rt).poll(brand)
    tell_budgets(rt)
    assert [n.count("is spent") for n in notices(fake_slack)].count(1) == 2


def test_a_read_racing_the_sweep_that_restores_a_day_counts_it_once(
    rt: Runtime, fake_x: FakeX, brand: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis lost the day; a budget read finds it unmarked, and before it reads the
    database the sweep restores the day and saves it. The read must not count what Redis
    counted since twice."""
    import bot.x.meter as meter

    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane", text="@brand one")
    Intake(rt).poll(brand)
    keep_spend(rt)
    today = rt.clock().date()
    rt.redis.delete(day_key(brand.id, today.isoformat()))
    fake_x.post_mention("brand", author="jane", text="@brand two")
    Intake(rt).poll(brand)
    reading = meter.saved_days

    def sweep_meanwhile(session: Any, account_id: int, days: Any) -> Any:
        monkeypatch.setattr(meter, "saved_days", reading)
        keep_spend(rt)  # the sweep, between this read's look at Redis and at the database
        return reading(session, account_id, days)

    monkeypatch.setattr(meter, "saved_days", sweep_meanwhile)
    assert month_spent(rt, brand.id, today) == fake_x.spend("brand")

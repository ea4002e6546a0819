"""What happens over time, through Roost's real processes: the worker's sweep period after
period, stopping on SIGTERM, and recovery after every process is killed.

Each test starts `roost worker`, `roost listen`, `roost web` or `roost run` as a person
would, against this test's database, its Redis database and the fakes, with the sweep's
period shortened by ROOST_SWEEP_SECONDS.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from bot.inbox.cards import METADATA_EVENT as CARD_EVENT
from bot.inbox.delivery import queue_deliveries
from bot.inbox.intake import Intake
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.outbound.sending import enqueue_send
from bot.runtime import Runtime
from bot.surge import batches
from bot.surge.detect import surge_command
from bot.surge.groups import group_surge
from bot.team.people import Who
from bot.x.meter import day_key
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.mentions import IncomingMention, store_mentions
from storage.models import Account, Mention, Outbound, Surge, Watch, XSpendDay
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, REPO_ROOT, add_brand_account, give, wait_for
from tests.processes import descendants, free_port, running, working_in

SWEEP_SECONDS = 1
"""The sweep's period in these tests: a minute by default would make a test of minutes."""


class Processes:
    """Roost's processes for one test, each logging to a file; all killed at the end."""

    def __init__(self, rt: Runtime, db_url: str, redis_url: str, tmp_path: Path) -> None:
        assert rt.settings.slack_bot_token and rt.settings.roost_secret_key
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "SLACK_BOT_TOKEN": rt.settings.slack_bot_token.get_secret_value(),
            "SLACK_SIGNING_SECRET": "test-signing-secret",
            "SLACK_API_URL": rt.settings.slack_api_url,
            "X_API_URL": rt.settings.x_api_url,
            "X_POLL_SECONDS": "1",
            "ROOST_SECRET_KEY": rt.settings.roost_secret_key.get_secret_value(),
            "ROOST_VAR_DIR": str(tmp_path / "var"),
            "ROOST_SWEEP_SECONDS": str(SWEEP_SECONDS),
            # A burst here is no surge unless a test says so (ROOST_SURGE_FLOOR of its own).
            "ROOST_SURGE_FLOOR": "1000000",
            # The fake Slack limits no one unless a test says so: nor does Roost's pace.
            "ROOST_SLACK_PACE": "100",
        }
        self.logs = tmp_path
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", name],
                env={**self.env, **env},
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its group: a failed test kills its children too
            )
        self.started.append((process, log))
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.started if p is process).read_text()

    def logs_text(self) -> str:
        return "\n".join(log.read_text() for _, log in self.started)

    def kill_all(self) -> None:
        """Whatever a test left running: each process's group, and an embedded Redis (it
        detaches from its group, so it is found by its working directory, the var dir)."""
        for process, _ in self.started:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        for pid in working_in(Path(self.env["ROOST_VAR_DIR"])):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def processes(
    rt: Runtime, db_url: str, redis_server_url: str, tmp_path: Path
) -> Iterator[Processes]:
    started = Processes(rt, db_url, redis_server_url, tmp_path)
    yield started
    started.kill_all()


@pytest.fixture
def redis_server_url(rt: Runtime) -> str:
    """This test's Redis database, as a URL for Roost's own processes."""
    kwargs = rt.redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def store_unqueued(rt: Runtime, account: Account, tweet_id: int, *, ago: timedelta) -> None:
    """A mention stored `ago` whose delivery was never queued: its listener died between."""
    with rt.sessions.begin() as session:
        store_mentions(
            session,
            account.id,
            [IncomingMention(tweet_id, tweet_id, 200, f"@brand lost {tweet_id}", rt.clock())],
            rt.clock() - ago,
        )


def carded(fake_slack: FakeSlack, text: str) -> bool:
    return any(text in str(message.get("blocks")) for message in cards(fake_slack))


def cards(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    """The channel's cards: not the digest a sweep posts once the day's 09:00 has passed."""
    return [
        message
        for message in fake_slack.messages(BRAND_CHANNEL)
        if (message.get("metadata") or {}).get("event_type") == CARD_EVENT
    ]


def sigterm_and_time(process: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=timeout)
    return code, time.monotonic() - started


# --- the sweep, period after period -------------------------------------------------------


def test_the_sweep_runs_every_period_once_however_many_workers_run(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """The sweep used to reschedule itself under its own id and RQ deleted that next run
    as the first one ended: one sweep per worker start, then none."""
    store_unqueued(rt, brand, 5001, ago=timedelta(minutes=1))
    first, second = processes.start("worker"), processes.start("worker")
    fake_slack.wait_for(lambda: carded(fake_slack, "lost 5001"), timeout=20)
    # Later periods still sweep: another mention whose enqueue was lost, well after start.
    periods_seen = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods_seen) + 3, timeout=20)
    store_unqueued(rt, brand, 5002, ago=timedelta(minutes=1))
    fake_slack.wait_for(lambda: carded(fake_slack, "lost 5002"), timeout=20)
    for worker in (first, second):
        code, _ = sigterm_and_time(worker)
        assert code == 0, processes.log_of(worker)
    periods = re.findall(STARTED_SWEEP, processes.logs_text())
    assert len(periods) >= 3
    assert len(periods) == len(set(periods)), "a period was swept twice"
    assert len(re.findall(r"roost: sweep \(start-", processes.logs_text())) == 2  # one a start
    with rt.sessions() as session:
        assert session.query(Mention).filter(Mention.card_posted_at.is_(None)).count() == 0


STARTED_SWEEP = r"roost: sweep \((\d+)\)"
"""RQ's log line as a worker starts one period's sweep."""


def _sweep_periods(processes: Processes) -> set[str]:
    return set(re.findall(STARTED_SWEEP, processes.logs_text()))


def test_a_delivery_slack_refused_is_retried_on_schedule_by_the_running_worker(
    rt: Runtime, processes: Processes, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """A Slack 5xx fails the delivery job; RQ schedules its retry 2 s later, and the
    worker's own ticker moves it to the queue when due (RQ's scheduler, in a thread)."""
    fake_x.add_user("jane")
    processes.start("worker")
    # Its first sweeps first: past 09:00 they post the day's digest, which would take the
    # failure meant for the card.
    wait_for(lambda: len(_sweep_periods(processes)) >= 2, timeout=20)
    fake_slack.fail("chat.postMessage", status=503)
    fake_x.post_mention("brand", author="jane", text="@brand first try fails")
    Intake(rt).poll(brand)
    fake_slack.wait_for(lambda: carded(fake_slack, "first try fails"), timeout=20)
    tries = [
        call
        for call in fake_slack.calls_to("chat.postMessage")
        if str(call.args.get("text", "")).startswith("Mention of")
    ]
    assert len(tries) == 2  # refused, then posted


def test_a_reply_x_rate_limits_waits_for_the_reset_in_the_running_worker_and_goes_once(
    rt: Runtime,
    processes: Processes,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    jane_card: dict[str, Any],
    brand: Account,
) -> None:
    """X answers 429 with its 15-minute window spent until 2 s from now: the worker puts
    the reply back, its ticker moves it to the queue at the reset, and it is posted once."""
    fake_x.fail("/2/tweets", 429, method="POST", reset_in=2)
    processes.start("worker")
    with rt.sessions() as session:
        mention_id = session.query(Mention.id).scalar()
    draft = dataclasses.replace(Draft.new(mention_id, "reply"), text="@jane on it")
    assert acting.publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    wait_for(
        lambda: [p["text"] for p in fake_x.posts_by("brand")] == ["@jane on it ^BK"], timeout=20
    )
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 2
    thread = " ".join(m["text"] for m in fake_slack.thread(BRAND_CHANNEL, jane_card["ts"]))
    assert "15-minute limit" in thread and "It goes out then, once." in thread
    with rt.sessions() as session:
        assert session.get_one(Account, brand.id).x_limit == "posts and replies (15-minute)"


def test_the_running_worker_tells_the_channel_of_a_budget_once_period_after_period(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """The sweep looks at budgets each period; the 80% notice goes out once however many
    periods pass, and the 100% one once it is all spent."""
    with rt.sessions.begin() as session:
        session.get_one(Account, brand.id).x_budget_cents = 100  # a dollar
    today = rt.clock().strftime("%Y-%m-%d")
    rt.redis.hincrby(day_key(brand.id, today), "read:post:micros", 850_000)
    processes.start("worker")
    periods = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods) + 2, timeout=20)

    def budget_notices() -> list[str]:
        return [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "X budget" in m["text"]]

    assert len(budget_notices()) == 1 and "used 80%" in budget_notices()[0]
    rt.redis.hincrby(day_key(brand.id, today), "write:dm:micros", 150_000)
    wait_for(lambda: len(budget_notices()) == 2, timeout=20)
    periods = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods) + 2, timeout=20)
    assert len(budget_notices()) == 2 and "spent" in budget_notices()[1]


def test_the_running_worker_keeps_x_spend_and_gives_a_redis_that_lost_it_its_count_back(
    rt: Runtime, processes: Processes, brand: Account
) -> None:
    """Each period the sweep copies the day's X spend to the database; after Redis lost
    the day, the next period adds the copy back to what Redis counted since, once."""
    key = day_key(brand.id, rt.clock().strftime("%Y-%m-%d"))
    rt.redis.hincrby(key, "read:post:micros", 50_000)
    processes.start("worker")
    wait_for(lambda: _kept_micros(rt, brand) == 50_000, timeout=20)
    rt.redis.delete(key)  # Redis lost its data, and counts on from nothing
    rt.redis.hincrby(key, "read:post:micros", 20_000)
    wait_for(lambda: _kept_micros(rt, brand) == 70_000, timeout=20)
    periods = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods) + 2, timeout=20)
    assert int(rt.redis.hget(key, "read:post:micros") or 0) == 70_000
    assert _kept_micros(rt, brand) == 70_000


def _kept_micros(rt: Runtime, account: Account) -> int:
    with rt.sessions() as session:
        kept = session.scalar(
            select(func.sum(XSpendDay.micros)).where(XSpendDay.account_id == account.id)
        )
    return int(kept or 0)


def test_a_scheduled_post_goes_out_on_time_while_a_surge_of_cards_waits_its_turn(
    rt: Runtime, processes: Processes, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """The team's own work is served before card deliveries: a post falling due while
    150 slow cards wait goes out at its time, not after them, and every card comes."""
    incoming = [
        IncomingMention(9_000 + n, 9_000 + n, 200, f"@brand surge {n}", rt.clock())
        for n in range(150)
    ]
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, incoming, rt.clock())
    fake_slack.slow("chat.postMessage", 0.04, times=150)  # 6 s of cards for one worker
    queue_deliveries(rt, brand.id, [m.tweet_id for m in incoming])
    due = rt.clock() + timedelta(seconds=1)
    with rt.sessions.begin() as session:
        post = Outbound(
            idempotency_key="scheduled-during-the-surge",
            kind="post",
            account_id=brand.id,
            text="Our status: we are on it",
            status="pending",
            attempts=0,
            created_at=rt.clock(),
            run_at=due,
            part=0,
        )
        session.add(post)
    enqueue_send(rt.team_queue, post.id, at=due)
    processes.start("worker")

    wait_for(lambda: len(fake_x.posts_by("brand")) == 1, timeout=20)
    carded_by_then = len(_cards(fake_slack))
    assert carded_by_then < 100, f"the post waited for {carded_by_then} cards"
    wait_for(lambda: len(_cards(fake_slack)) == 150, timeout=60)


def _cards(fake_slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake_slack.messages(BRAND_CHANNEL) if "surge" in m.get("text", "")]


def test_the_running_worker_tells_a_surge_once_as_it_starts_and_once_as_it_ends(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """The sweep looks at each account's pace every period: a burst of mentions starts a
    surge (told once however many periods see it), and a window with none ends it."""
    processes.start("worker", ROOST_SURGE_WINDOW_SECONDS="4", ROOST_SURGE_FLOOR="5")
    wait_for(lambda: len(_sweep_periods(processes)) >= 1, timeout=20)
    burst = [
        IncomingMention(7_000 + n, 7_000 + n, 200, f"@brand where is my order {n}", rt.clock())
        for n in range(8)
    ]
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, burst, rt.clock())

    def told() -> list[str]:
        return [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "surge" in m["text"]]

    wait_for(lambda: len(told()) == 1, timeout=20)
    assert "A surge on *@brand*: 8 mentions in the last 4 s" in told()[0]
    wait_for(lambda: len(told()) == 2, timeout=30)  # the window passes with nothing new
    assert "The surge on *@brand* is over" in told()[1] and "8 mentions" in told()[1]
    assert "What they were about:\n• *order*: 8 (0 answered)" in told()[1]  # grouped
    periods = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods) + 2, timeout=20)
    assert len(told()) == 2


def test_in_a_surge_the_running_worker_posts_group_cards_and_lists_every_mention_once(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """A surge switched on, 30 mentions of two kinds: the worker holds them from cards of
    their own, and its recurring run posts a card a group and lists each mention once in
    its thread, period after period, paced so that a Slack enforcing its limits never
    answers 429."""
    give(rt, fake_slack, OWNER, "owner", None)
    surge_command(rt, Who(fake_slack.team_id, OWNER), "on @brand")
    texts = ["아이폰 배송 언제 되나요", "유심비 따로 내야 하나요", "배송이 아직도 안 왔어요"]
    burst = [
        IncomingMention(8_000 + n, 8_000 + n, 200, f"@brand {texts[n % 3]} {n}", rt.clock())
        for n in range(30)
    ]
    with rt.sessions.begin() as session:
        store_mentions(session, brand.id, burst, rt.clock())
    queue_deliveries(rt, brand.id, [m.tweet_id for m in burst])
    fake_slack.enforce_limits()
    processes.start("worker", ROOST_SURGE_PUBLISH_SECONDS="0.5", ROOST_SLACK_PACE="1")

    def listed() -> list[str]:
        return [
            block["accessory"]["value"]
            for message in fake_slack.messages(BRAND_CHANNEL)
            if "thread_ts" in message
            for block in message["blocks"]
            if block.get("accessory", {}).get("action_id") == "surge_open"
        ]

    wait_for(lambda: len(listed()) == 30, timeout=40)
    top = [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]
    groups = [m for m in top if m["text"].startswith("Surge group")]
    assert 1 <= len(groups) <= 3 and not any("Mention of" in m["text"] for m in top)
    assert len(set(listed())) == 30
    periods = _sweep_periods(processes)
    wait_for(lambda: len(_sweep_periods(processes)) >= len(periods) + 2, timeout=20)
    assert len(listed()) == 30  # nothing listed twice
    assert fake_slack.rate_limited == 0  # Slack, enforcing its limits, never had to refuse


def test_the_running_worker_answers_a_group_of_200_a_windows_share_at_a_time_once_each(
    rt: Runtime, processes: Processes, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """Reply to all on a group of 200, X's window shortened to 5 s and Roost's with it
    (Roost counts a margin past it, as X's fixed windows can end a second late): the
    worker releases a window's share
    at a time, X never refuses one, a worker killed midway loses and repeats nothing, and
    each of the 200 gets one reply."""
    # Short windows, yet long beside what a loaded machine can delay a call by.
    fake_x.window_seconds = 5
    give(rt, fake_slack, OWNER, "owner", None)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    surge_command(rt, Who(fake_slack.team_id, OWNER), "on @brand")
    for n in range(200):
        fan = fake_x.add_user(f"waiting{n}")["username"]
        fake_x.post_mention("brand", author=fan, text=f"@brand 배송 언제 와요 {n}")
    Intake(rt).poll(brand)
    with rt.sessions() as session:
        surge = session.scalars(select(Surge)).one()
    group_surge(rt, surge)
    with rt.sessions() as session:
        group_id, upto = session.execute(
            select(Mention.surge_group_id, func.max(Mention.id)).group_by(Mention.surge_group_id)
        ).one()
    assert not batches.start(
        rt,
        Who(fake_slack.team_id, AGENT),
        key="reply-all-200",
        group_id=group_id,
        kind="reply",
        upto=upto,
        text="Deliveries are 2 days late.",
        with_link=False,
    )
    window = {"X_RATE_WINDOW_SECONDS": "5", "ROOST_BATCH_SECONDS": "0.5"}
    first = processes.start("worker", **window)

    def replies() -> list[dict[str, Any]]:
        return [p for p in fake_x.posts_by("brand") if p["in_reply_to_tweet_id"]]

    wait_for(lambda: len(replies()) >= 90, timeout=30)
    first.kill()  # mid-batch, perhaps mid-call
    first.wait()
    processes.start("worker", **window)
    wait_for(lambda: len(replies()) >= 200, timeout=60)

    def batch_rows() -> list[Any]:
        with rt.sessions() as session:
            return list(
                session.execute(
                    select(Outbound.status, Outbound.started_at, Outbound.error).where(
                        Outbound.batch_id.is_not(None)
                    )
                )
            )

    # The row whose call the kill cut short is settled by the new worker's reconciliation,
    # which may come after the last reply on a loaded machine.
    wait_for(lambda: all(status == "sent" for status, _, _ in batch_rows()), timeout=30)
    time.sleep(1)  # nothing more comes
    found = replies()
    assert len(found) == 200 and len({r["in_reply_to_tweet_id"] for r in found}) == 200
    rows = batch_rows()
    with rt.sessions() as session:
        limited = session.get_one(Account, brand.id).x_limited_until
    assert {status for status, _, _ in rows} == {"sent"} and limited is None  # no 429
    starts = sorted(started for _, started, _ in rows)
    assert starts[-1] - starts[0] >= timedelta(seconds=10)  # three windows, not one burst
    busiest = max(sum(1 for t in starts if s <= t < s + timedelta(seconds=6)) for s in starts)
    assert busiest <= 90, busiest


def test_the_workers_scheduler_logs_at_roost_log_level_as_the_worker_does(
    rt: Runtime, processes: Processes
) -> None:
    """RQ's scheduler sets up its own logger, at INFO unless told: a worker asked for
    warnings only printed its lock lines every start all the same."""
    quiet = processes.start("worker", ROOST_LOG_LEVEL="WARNING")
    wait_for(lambda: rt.redis.get("rq:scheduler-lock:roost"), timeout=20)
    sigterm_and_time(quiet)
    assert "Acquired scheduler lock" not in processes.log_of(quiet)
    chatty = processes.start("worker", ROOST_LOG_LEVEL="INFO")
    wait_for(lambda: "Acquired scheduler lock" in processes.log_of(chatty), timeout=20)


def test_a_dead_workers_scheduler_lock_is_taken_over_at_once(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """RQ's lock on moving scheduled jobs outlives a killed holder by a minute, and a
    restarted worker would only have tried again at its next maintenance, minutes later."""
    first = processes.start("worker")
    wait_for(lambda: rt.redis.get("rq:scheduler-lock:roost"), timeout=20)
    first.kill()
    first.wait()
    processes.start("worker")
    due = rt.queue.enqueue_in(
        timedelta(seconds=1), "bot.inbox.intake.notify_intake_stopped", brand.id
    )
    wait_for(lambda: due.get_status(refresh=True) == "finished", timeout=15)


def test_a_dead_workers_lock_on_one_queue_is_taken_over_though_the_others_were_free(
    rt: Runtime, processes: Processes, brand: Account
) -> None:
    """Each queue has its scheduler lock: a new worker that gets the free ones must still
    take over the one a dead worker holds, or that queue's scheduled jobs would wait."""
    rt.redis.set("rq:scheduler-lock:roost", "dead-worker", ex=120)
    processes.start("worker")
    due = rt.queue.enqueue_in(
        timedelta(seconds=1), "bot.inbox.intake.notify_intake_stopped", brand.id
    )
    wait_for(lambda: due.get_status(refresh=True) == "finished", timeout=15)


# --- stopping -------------------------------------------------------------------------------


def test_a_stream_rule_x_refuses_is_read_around_and_asked_for_again_period_after_period(
    rt: Runtime, processes: Processes, fake_x: FakeX, brand: Account
) -> None:
    """`roost listen` on the filtered stream, X refusing one account's rule (its app is at
    the rule cap): that account's mentions still come, from its timeline, each period; the
    rule is asked for again each period, and made once X has room."""
    shop = add_brand_account(rt, fake_x, "shop", BRAND_CHANNEL)
    fake_x.add_user("jane")
    fake_x.rule_cap = 1
    processes.start(
        "listen",
        X_INTAKE="stream",
        X_BEARER_TOKEN=fake_x.app_bearer,
        X_STREAM_RETRY_SECONDS="1",
    )
    wait_for(lambda: fake_x.open_streams == 1 and len(fake_x.rules()) == 1, timeout=20)
    ruled = {rule["value"] for rule in fake_x.rules()}
    refused = shop if "@brand -is:retweet" in ruled else brand
    for n in range(2):  # two periods, each read from the timeline
        tweet = fake_x.post_mention(refused.handle, author="jane", text=f"@{refused.handle} {n}")
        wait_for(lambda t=tweet: stored(rt, int(t["id"])), timeout=15)
    refusals = processes.logs_text().count("X refused the stream rule for @" + refused.handle)
    assert refusals >= 2

    # One posted just before X has room: the rule comes, yet this one is in no stream line.
    gap = fake_x.post_mention(refused.handle, author="jane", text=f"@{refused.handle} gap")
    fake_x.rule_cap = 10
    wait_for(lambda: len(fake_x.rules()) == 2, timeout=15)
    live = fake_x.post_mention(refused.handle, author="jane", text=f"@{refused.handle} live")
    wait_for(lambda: stored(rt, int(live["id"])), timeout=15)
    wait_for(lambda: stored(rt, int(gap["id"])), timeout=15)


def test_the_running_listener_reads_a_watch_each_period_and_stops_it_at_its_budget_once(
    rt: Runtime, processes: Processes, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    """`roost listen` reads a watch every ROOST_WATCH_SECONDS and `roost worker` cards what
    it finds in the watch's channel, period after period, each post once; at its budget the
    watch stops reading and its channel is told once, however many periods pass."""
    fake_slack.add_channel("C0WATCH", "brand-watch")
    with rt.sessions.begin() as session:
        session.add(
            Watch(
                account_id=brand.id,
                query="택배",
                channel_id="C0WATCH",
                # $0.40: 16 posts at their worst ($0.025); here each costs $0.015 (itself
                # and its author).
                budget_micros=400_000,
                created_by=OWNER,
                created_at=rt.clock() - timedelta(seconds=5),
                month_posts=0,
                month_micros=0,
            )
        )
    fans = iter(range(100))

    def post(count: int) -> None:
        for _ in range(count):
            fan = fake_x.add_user(f"fan{next(fans)}")["username"]
            fake_x.post_mention([], author=fan, text=f"택배 언제 와요 {fan}")

    def watched() -> list[str]:
        return [
            m["text"]
            for m in fake_slack.messages("C0WATCH")
            if (m.get("metadata") or {}).get("event_type") == CARD_EVENT
        ]

    def searches() -> int:
        return len(fake_x.calls_to("/2/tweets/search/recent"))

    fake_x.search_lag_seconds = 1  # X's 10 s, shortened alike on both sides
    processes.start("listen", ROOST_WATCH_SECONDS="1", X_SEARCH_LAG_SECONDS="1")
    processes.start("worker")
    post(3)
    wait_for(lambda: len(watched()) == 3, timeout=20)
    post(2)
    wait_for(lambda: len(watched()) == 5, timeout=20)
    read = searches()
    wait_for(lambda: searches() >= read + 2, timeout=20)  # two more periods: nothing new
    assert len(watched()) == 5 and len(set(watched())) == 5

    post(20)  # $0.325 left pays for 13 of them; then the watch stops for the month
    wait_for(
        lambda: any("stopped at its budget" in m["text"] for m in fake_slack.messages("C0WATCH")),
        timeout=20,
    )
    stopped_at = searches()
    time.sleep(3)  # three periods
    assert searches() == stopped_at
    notices = [m for m in fake_slack.messages("C0WATCH") if "stopped at its budget" in m["text"]]
    assert len(notices) == 1 and len(watched()) == 18
    assert cards(fake_slack) == []  # nothing in the account's own channel


def stored(rt: Runtime, tweet_id: int) -> bool:
    with rt.sessions() as session:
        return session.query(Mention).filter(Mention.tweet_id == tweet_id).count() == 1


def test_sigterm_stops_an_idle_worker_at_once(rt: Runtime, processes: Processes) -> None:
    worker = processes.start("worker")
    wait_for(lambda: "roost-sweep-start-" in processes.log_of(worker), timeout=20)
    code, took = sigterm_and_time(worker)
    assert code == 0 and took < 5, processes.log_of(worker)


def test_sigterm_stops_a_busy_worker_within_its_deadline(rt: Runtime, processes: Processes) -> None:
    """A job that would run for a minute is stopped at the deadline (RQ's cold shutdown);
    the worker still exits 0, within ten seconds."""
    worker = processes.start("worker")
    wait_for(lambda: "roost-sweep-start-" in processes.log_of(worker), timeout=20)
    job = rt.queue.enqueue("time.sleep", 60)
    wait_for(lambda: job.get_status(refresh=True) == "started", timeout=20)
    code, took = sigterm_and_time(worker)
    assert code == 0, processes.log_of(worker)
    assert took < 10
    assert job.get_status(refresh=True) == "failed"  # handed back, not lost in a dead process


def test_roost_run_stops_on_sigterm_within_ten_seconds_with_nothing_left_running(
    processes: Processes, fake_x: FakeX, fake_slack: FakeSlack
) -> None:
    """As the README runs it, on SQLite and the embedded Redis, during a burst."""
    port = free_port()
    local = {**processes.env, "DATABASE_URL": "", "REDIS_URL": "", "PORT": str(port)}
    user = fake_x.add_user("brand")
    fake_x.add_user("jane")
    roost = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*roost, "db", "upgrade"], env=local, cwd=REPO_ROOT, check=True)
    subprocess.run(
        [*roost, "accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
        + [f"--oauth2-access-token={fake_x.issue_token(user['id'])}"],
        env=local,
        cwd=REPO_ROOT,
        check=True,
    )
    run = processes.start("run", **local)
    wait_for(lambda: _healthy(port), timeout=30, interval=0.2)
    family = descendants(run.pid) + working_in(Path(local["ROOST_VAR_DIR"]))
    assert len(family) >= 4  # web, worker, listener and the embedded (daemonized) redis-server
    fake_slack.slow("chat.postMessage", 0.05, times=200)
    for number in range(100):
        fake_x.post_mention("brand", author="jane", text=f"@brand burst {number}")
    wait_for(lambda: cards(fake_slack), timeout=30, interval=0.05)
    code, took = sigterm_and_time(run)
    assert code == 0, processes.log_of(run)
    assert took < 10
    assert [pid for pid in family if running(pid)] == []


def test_web_finishes_acknowledged_work_before_it_exits(
    rt: Runtime, processes: Processes, fake_slack: FakeSlack, brand: Account
) -> None:
    """A command acknowledged to Slack is answered even if SIGTERM comes right after."""
    from sandbox.slack_api import command_body, signed_headers

    port = free_port()
    web = processes.start("web", PORT=str(port))
    wait_for(lambda: _healthy(port), timeout=30, interval=0.2)
    fake_slack.slow("users.info", 2.0, times=5)  # /roost mine asks Slack who is asking
    body = command_body(
        "/roost",
        "mine",
        user_id="U0SOMEONE",
        channel_id=BRAND_CHANNEL,
        team_id=fake_slack.team_id,
        response_url=fake_slack.response_url(),
    )
    headers = {
        **signed_headers("test-signing-secret", body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    acked = requests.post(
        f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers, timeout=5
    )
    assert acked.status_code == 200
    code, took = sigterm_and_time(web)
    assert code == 0, processes.log_of(web)
    assert took < 10
    assert fake_slack.responses, "the acknowledged command was never answered"


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(
    rt: Runtime, processes: Processes
) -> None:
    port = free_port()
    processes.start("web", PORT=str(port))
    wait_for(lambda: _healthy(port), timeout=30, interval=0.2)
    sent = {"bytes": 0}

    def body() -> Iterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(16 * 1024 * 1024 // len(chunk)):
            sent["bytes"] += len(chunk)
            yield chunk

    try:
        answer = requests.post(
            f"http://127.0.0.1:{port}/slack/events",
            data=body(),
            headers={"Content-Length": str(16 * 1024 * 1024)},
            timeout=10,
        )
    except requests.ConnectionError:
        answer = None  # it may also close the connection on us: then it did not read it all
    assert answer is None or answer.status_code == 413
    assert sent["bytes"] < 16 * 1024 * 1024


# --- recovery -------------------------------------------------------------------------------


def test_every_process_killed_mid_burst_recovers_within_seconds_and_cards_each_once(
    rt: Runtime, processes: Processes, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    burst = 120
    fake_slack.slow("chat.postMessage", 0.02, times=burst * 2)  # a burst takes a while
    for number in range(burst):
        fake_x.post_mention("brand", author="jane", text=f"@brand burst {number}")
    first = [processes.start("listen"), processes.start("worker"), processes.start("worker")]
    wait_for(lambda: len(cards(fake_slack)) >= 10, timeout=30, interval=0.05)
    for process in first:
        process.kill()
        process.wait()
    restarted_at = time.monotonic()
    processes.start("listen"), processes.start("worker"), processes.start("worker")
    wait_for(lambda: len(cards(fake_slack)) >= burst, timeout=60, interval=0.1)
    recovered = time.monotonic() - restarted_at
    numbers = [
        int(found)
        for message in cards(fake_slack)
        for found in re.findall(r"@brand burst (\d+)\b", message["text"])
    ]
    assert sorted(numbers) == list(range(burst))  # every one carded, none twice
    assert recovered < 30, processes.logs_text()[-3000:]


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False

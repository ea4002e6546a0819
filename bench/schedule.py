"""Schedule benchmark: 1,000 posts due in the same minute, and how late each one goes out.

Not a test: it prints its figures and ends with one JSON line.

Ten accounts on the fake X (each its own user and token), one agent with a CoTag and the
agent role on all of them. Two `roost worker` processes (RQ's SimpleWorker with its
scheduler, as in production) are started first and warmed with one immediate post per
account. Then 1,000 posts, 100 per account with distinct texts, go through
`bot.posts.compose.submit` — one Compose with one account each — with run_at spread evenly, to the
millisecond, across one minute that begins 20 s after the scheduling is expected to finish,
so the workers are idle and waiting when the first one falls due. The benchmark then polls
the database until every row is sent, failed or unknown (bounded: the minute plus DEADLINE).

Lateness is sent_at − run_at per outbound row, both as the database holds them; the fake X's
own created_at for each post gives the same figure seen from X (millisecond stamps). While
the rows fall due, a sampler reads RQ's scheduled-job registry every SAMPLE_EVERY seconds:
each drop is one scheduler poll that moved due jobs onto the queue, which is how often the
scheduler looks (RQ's default interval is 1 s, and it scores jobs in whole seconds).
Duplicates are posts at the fake X beyond one per text; the fake X also counts every POST
/2/tweets it received, so a second try that X turned away as duplicate content shows too.

Everything runs as in production, on loopback: the fake X and the fake Slack (the posts'
results go to the accounts' channels and the author's DM) each in a process of its own,
the workers as subprocesses, PostgreSQL and Redis.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL `test`
database; the benchmark works in a schema of its own, dropped at the end), BENCH_REDIS_URL
(default redis://127.0.0.1:6379/14, flushed before and after), BENCH_POSTS (1000, spread over
the ten accounts), BENCH_WINDOW (60: seconds over which they fall due; 0 puts them all on one
whole second, as the modal's time picker does with a whole minute), BENCH_SCHEDULER_INTERVAL
(unset: RQ's own; else the workers' schedulers poll this many seconds apart, patched in for
the measurement — `roost worker` has no such setting).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from bench.common import (
    BENCH_LIMIT_FACTOR,
    Stack,
    ask,
    bench_runtime,
    epoch,
    key_of,
    logged,
    percentile,
    postgres_schema,
    wait,
)
from bot.posts.compose import Compose, submit
from bot.runtime import Runtime
from bot.team.people import Who
from sandbox.slack_api import BOT_TOKEN
from storage.accounts import upsert_account
from storage.models import Outbound
from storage.team import grant, member, set_cotag

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "roost_bench_schedule"
ACCOUNTS = 10
AGENT = "U0AGENT"
COTAG = "^BK"
WINDOW = 60.0  # seconds over which the posts fall due (BENCH_WINDOW)
LEAD = 20.0  # seconds from the end of the scheduling to the first post due
WORKERS = 2
TARGET_P99_MS = 2000  # the issue's target for lateness
SAMPLE_EVERY = 0.01  # seconds between looks at RQ's scheduled-job registry
DEADLINE = 120.0  # seconds any wait may take beyond the minute the posts fall due
DONE = ("sent", "failed", "unknown")

WORKER_WITH_INTERVAL = "import sys; from bench.schedule import worker; sys.exit(worker({!r}))"


def main() -> None:
    started = time.monotonic()
    posts = int(os.environ.get("BENCH_POSTS", "1000"))
    window = float(os.environ.get("BENCH_WINDOW", WINDOW))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    configured = os.environ.get("BENCH_SCHEDULER_INTERVAL")
    interval = float(configured) if configured else None
    load_before = os.getloadavg()
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    try:
        with postgres_schema(SCHEMA) as database:
            print(
                f"machine: {os.cpu_count()} cores, load {_load(load_before)}; PostgreSQL, schema "
                f"{SCHEMA}; {posts:,} posts over {ACCOUNTS} accounts due within {window:g} s, "
                f"{WORKERS} workers, "
                f"scheduler interval {'RQ default (1 s)' if interval is None else f'{interval} s'}"
            )
            with _Stack(database, redis_url, redis, interval) as stack:
                stack.warm_up()
                run = stack.schedule_and_wait(posts, window)
    finally:
        redis.flushdb()
    load_after = os.getloadavg()

    late = [r.late_ms for r in run.rows if r.late_ms is not None]
    met = bool(late) and percentile(late, 99) < TARGET_P99_MS and run.sent == posts == len(late)
    print(
        f"scheduling:      {posts:,} submits in {run.scheduling_s:.1f} s "
        f"({posts / run.scheduling_s:,.0f}/s); first post due {run.lead_s:.1f} s after the last"
    )
    print(f"sent:            {run.sent:,} of {run.scheduled:,} ({run.statuses})")
    print(
        f"duplicates:      {run.duplicates} at X; {run.x_calls:,} POST /2/tweets calls "
        f"for {posts + ACCOUNTS:,} posts (the {ACCOUNTS} warm-up posts included)"
    )
    print(f"lateness:        {_figures(late)}")
    print(f"  early:         {sum(ms < 0 for ms in late)} sent before their run_at")
    claimed = [r.claimed_ms for r in run.rows if r.claimed_ms is not None]
    sending = [r.sending_ms for r in run.rows if r.sending_ms is not None]
    at_x = [r.at_x_ms for r in run.rows if r.at_x_ms is not None]
    print(f"  run_at to a worker's claim: {_figures(claimed)}")
    print(f"  claim to sent:              {_figures(sending)}")
    print(f"  run_at to X's created_at:   {_figures(at_x)}")
    print(
        f"scheduler:       {len(run.moves)} polls moved due jobs while they fell due; "
        f"{_gaps(run.moves)}; largest move {max((n for _, n in run.moves), default=0)} jobs; "
        f"queue at most {run.max_queued} jobs deep"
    )
    print(f"all sent:        {run.drained_s:.1f} s after the last run_at")
    print(f"load:            {_load(load_before)} before, {_load(load_after)} after")
    print(
        f"target:          lateness p99 < {TARGET_P99_MS} ms, all {posts:,} sent once: "
        f"{'met' if met else 'NOT met'}"
    )
    for note in stack.log_notes:
        print(note)
    elapsed = time.monotonic() - started
    print(f"took {elapsed:.0f} s")
    print(
        json.dumps(
            {
                "scheduled": run.scheduled,
                "sent": run.sent,
                "duplicates": run.duplicates,
                "lateness_p50_ms": round(percentile(late, 50), 1) if late else None,
                "lateness_p99_ms": round(percentile(late, 99), 1) if late else None,
            }
        )
    )


def _figures(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"{len(values):,} · p50 {percentile(values, 50):.0f} ms, "
        f"p90 {percentile(values, 90):.0f} ms, p99 {percentile(values, 99):.0f} ms, "
        f"max {max(values):.0f} ms, min {min(values):.0f} ms"
    )


def _gaps(moves: list[tuple[float, int]]) -> str:
    gaps = [b - a for (a, _), (b, _) in zip(moves, moves[1:], strict=False)]
    if not gaps:
        return "no interval to show"
    return f"{percentile(gaps, 50) * 1000:.0f} ms apart (p50), {max(gaps) * 1000:.0f} ms at most"


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{n:.2f}" for n in load)


class _Row:
    """One measured outbound row: milliseconds after its run_at."""

    def __init__(self, row: Outbound, at_x: float | None) -> None:
        assert row.run_at is not None
        due = row.run_at.timestamp()
        self.status = row.status
        self.late_ms = _after(due, row.sent_at)
        self.claimed_ms = _after(due, row.started_at)
        self.sending_ms = (
            (row.sent_at - row.started_at).total_seconds() * 1000
            if row.sent_at and row.started_at
            else None
        )
        self.at_x_ms = (at_x - due) * 1000 if at_x is not None else None


def _after(due: float, moment: datetime | None) -> float | None:
    return (moment.timestamp() - due) * 1000 if moment is not None else None


class _Run:
    def __init__(self) -> None:
        self.scheduled = 0
        self.scheduling_s = 0.0
        self.lead_s = 0.0
        self.rows: list[_Row] = []
        self.sent = 0
        self.duplicates = 0
        self.x_calls = 0
        self.statuses = ""
        self.moves: list[tuple[float, int]] = []  # (monotonic time, jobs the scheduler moved)
        self.max_queued = 0
        self.drained_s = 0.0


# --- the system under test -----------------------------------------------------------------


class _Stack(Stack):
    """The fakes, the accounts and the workers; stopped on exit."""

    def __init__(self, database: str, redis_url: str, redis: Redis, interval: float | None):
        self.database, self.redis_url, self.redis, self.interval = (
            database,
            redis_url,
            redis,
            interval,
        )
        super().__init__("roost-bench-schedule-")

    def _dispose(self) -> None:
        if hasattr(self, "rt"):
            self.rt.engine.dispose()

    def _read_logs(self, folder: Path) -> list[str]:
        return logged(folder, "the workers")

    def _start(self) -> None:
        self.x_pipe, x_url, identities = self._spawn(_serve_fake_x, ACCOUNTS)
        self.slack_pipe, slack_url, team_id = self._spawn(_serve_fake_slack, ACCOUNTS)
        self.rt = bench_runtime(
            self.database, self.redis, slack_token=BOT_TOKEN, slack_url=slack_url, x_api_url=x_url
        )
        self.accounts = _add_accounts(self.rt, identities, team_id)
        self.who = Who(team_id, AGENT)
        environment = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack_url,
            # This fake Slack limits no one: nor does Roost's pace (bench.surge keeps both).
            "ROOST_SLACK_PACE": "100",
            # A burst here is load, not a crisis: no surge holds its cards.
            "ROOST_SURGE_FLOOR": "1000000",
            "X_API_URL": x_url,
            "DATABASE_URL": self.database,
            "REDIS_URL": self.redis_url,
            "ROOST_SECRET_KEY": key_of(self.rt),
            "ROOST_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "bot.cli", "worker"]
        if self.interval is not None:
            command = [sys.executable, "-c", WORKER_WITH_INTERVAL.format(self.interval)]
        for n in range(WORKERS):
            with open(self.logs / f"{n}-worker.log", "wb") as log:
                self.children.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
                    )
                )

    def warm_up(self) -> None:
        """One post now per account: the workers' imports, pools and tokens, paid before."""
        started = time.perf_counter()
        ids = [
            self._submit(f"Warming up @{handle} {secrets.token_hex(4)}", account_id, None)
            for account_id, handle in self.accounts
        ]
        self.submit_s = (time.perf_counter() - started) / len(ids)
        wait(lambda: self._done(ids) == len(ids), DEADLINE, "the warm-up posts")

    def _submit(self, words: str, account_id: int, run_at: datetime | None) -> int:
        post_id = submit(
            self.rt, self.who, Compose(words, [account_id], run_at), secrets.token_hex(8)
        )
        assert post_id is not None, "a fresh key stored no post"
        return post_id

    def _done(self, post_ids: list[int]) -> int:
        with self.rt.sessions() as session:
            statuses = session.scalars(
                select(Outbound.status).where(Outbound.post_id.in_(post_ids))
            ).all()
        return sum(status in DONE for status in statuses)

    def schedule_and_wait(self, posts: int, window: float) -> _Run:
        run = _Run()
        # The warm-up's pace says when scheduling will end; the minute begins LEAD after,
        # on a whole second as the modal's whole minutes are.
        expected = posts * self.submit_s * 1.5
        soon = datetime.now(UTC) + timedelta(seconds=expected + LEAD)
        first = soon.replace(microsecond=0) + timedelta(seconds=1)
        step = window / posts
        began = time.perf_counter()
        ids = []
        for n in range(posts):
            account_id, handle = self.accounts[n % ACCOUNTS]
            run_at = first + timedelta(seconds=n * step)
            words = f"Scheduled post {n} for @{handle}: our spring hours start on Monday."
            ids.append(self._submit(words, account_id, run_at))
        run.scheduling_s = time.perf_counter() - began
        run.lead_s = (first - datetime.now(UTC)).total_seconds()
        run.scheduled = posts
        if run.lead_s < LEAD / 2:
            print(f"warning: the first post fell due only {run.lead_s:.1f} s after scheduling")

        last = first + timedelta(seconds=window)
        queue = self.rt.team_queue
        sampler = _Sampler(self.redis, queue.key, ScheduledJobRegistry(queue=queue))
        sampling = threading.Thread(target=sampler.run, daemon=True)
        sampling.start()
        deadline = time.monotonic() + (last - datetime.now(UTC)).total_seconds() + DEADLINE
        while self._done(ids) < posts and time.monotonic() < deadline:
            time.sleep(0.25)
        run.drained_s = (datetime.now(UTC) - last).total_seconds()
        sampler.stop.set()
        sampling.join()
        run.moves, run.max_queued = sampler.moves, sampler.max_queued
        self._count(run, ids)
        return run

    def _count(self, run: _Run, post_ids: list[int]) -> None:
        at_x: dict[str, list[float]] = {}
        handles = [handle for _, handle in self.accounts]
        for post in ask(self.x_pipe, ("posts", handles)):
            at_x.setdefault(post["text"], []).append(epoch(post["created_at"]))
        run.x_calls = ask(self.x_pipe, ("calls", None))
        with self.rt.sessions() as session:
            rows = session.scalars(select(Outbound).where(Outbound.post_id.in_(post_ids))).all()
        texts = {row.text for row in rows}
        run.duplicates = sum(len(at_x[t]) - 1 for t in texts if t in at_x)
        first_at_x = {words: min(moments) for words, moments in at_x.items()}
        run.rows = [_Row(row, first_at_x.get(row.text)) for row in rows]
        run.sent = sum(row.status == "sent" and row.text in at_x for row in rows)
        statuses = Counter(row.status for row in rows)
        run.statuses = ", ".join(f"{n} {status}" for status, n in statuses.most_common())


class _Sampler:
    """Watches RQ's scheduled-job registry and queue: when and how much the scheduler moves."""

    def __init__(self, redis: Redis, queue_key: str, registry: ScheduledJobRegistry) -> None:
        self.redis, self.queue_key, self.registry_key = redis, queue_key, registry.key
        self.stop = threading.Event()
        self.moves: list[tuple[float, int]] = []
        self.max_queued = 0

    def run(self) -> None:
        before = self.redis.zcard(self.registry_key)
        while not self.stop.wait(SAMPLE_EVERY):
            with self.redis.pipeline() as pipeline:
                pipeline.zcard(self.registry_key)
                pipeline.llen(self.queue_key)
                scheduled, queued = pipeline.execute()
            if scheduled < before:
                self.moves.append((time.monotonic(), before - scheduled))
            before = scheduled
            self.max_queued = max(self.max_queued, queued)


# --- a worker whose scheduler polls more often -----------------------------------------------


def worker(interval: float) -> int:
    """`roost worker`, its scheduler polling every `interval` seconds.

    rq 2.12's Worker builds its RQScheduler with the default interval (1 s) and takes no
    other; the scheduler also uses `interval + 60` as its locks' EXPIRE, which Redis refuses
    unless whole. So the interval stays RQ's for the locks and only the sleep is shortened.
    """
    import rq.worker.base
    from rq.scheduler import RQScheduler

    class Polling(RQScheduler):
        def work(self) -> None:
            self._install_signal_handlers()
            self.register_birth()
            while not self._stop_requested:
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                time.sleep(interval)
            self.stop()

    rq.worker.base.RQScheduler = Polling  # type: ignore[misc]
    from bot.cli import main as roost

    return roost(["worker"])


# --- the fakes, each in a process of its own -----------------------------------------------


def _serve_fake_x(accounts: int, pipe: Connection) -> None:
    """The fake X with the accounts; answers ("posts", handles) with their posts, and
    ("calls", None) with how many POST /2/tweets it received."""
    from sandbox.x_api import FakeX

    fake = FakeX().start()
    fake.limit_factor = BENCH_LIMIT_FACTOR
    identities = []
    for n in range(accounts):
        user = fake.add_user(f"brand{n:02d}", name=f"Brand {n}")
        identities.append((user, fake.issue_token(user["id"])))
    pipe.recv()
    pipe.send((fake.url, identities))
    while True:
        question, argument = pipe.recv()
        if question == "posts":
            pipe.send([post for handle in argument for post in fake.posts_by(handle)])
        else:
            pipe.send(len(fake.calls_to("/2/tweets", "POST")))


def _serve_fake_slack(accounts: int, pipe: Connection) -> None:
    """The fake Slack with each account's channel and the agent, whom results are DMed to."""
    from sandbox.slack_api import FakeSlack

    fake = FakeSlack()
    for n in range(accounts):
        fake.add_channel(_channel(n), f"x-brand{n:02d}")
    fake.add_user(AGENT, "agent")
    fake.start()
    pipe.recv()
    pipe.send((fake.url, fake.team_id))
    threading.Event().wait()  # serve until terminated


def _channel(n: int) -> str:
    return f"C0BRAND{n:02d}"


# --- set-up --------------------------------------------------------------------------------


def _add_accounts(
    rt: Runtime, identities: list[tuple[dict[str, Any], str]], team_id: str
) -> list[tuple[int, str]]:
    """The accounts, (id, handle) each; the agent with its CoTag and the agent role on all."""
    now = rt.clock()
    added = []
    with rt.sessions.begin() as session:
        agent = member(session, team_id, AGENT, now)
        set_cotag(session, agent, COTAG, now)
        for n, (user, token) in enumerate(identities):
            account, _ = upsert_account(
                session,
                x_user_id=int(user["id"]),
                handle=user["username"],
                name=user["name"],
                channel_id=_channel(n),
                auth_kind="oauth2",
                sealed_credentials=rt.box.seal({"access_token": token}),
                now=now - timedelta(days=1),
            )
            grant(session, account, agent, "agent", now)
            added.append((account.id, account.handle))
    return added


if __name__ == "__main__":
    main()

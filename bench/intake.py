"""Intake benchmark: mentions from the fake X into PostgreSQL and Redis, and on to Slack.

Not a test: it prints its figures and ends with one JSON line.

1. Sustained intake: realistic mention payloads paged from the fake X (in its
   own process) through normalize, dedupe, store and enqueue — Intake.poll,
   the listener's own code — into PostgreSQL and Redis. Repeated; each run
   starts from empty tables.
2. The baseline: a raw batched INSERT ... ON CONFLICT DO NOTHING of the same
   rows, in the same 100-row batches, one transaction each.
3. Card latency: the listener polling every second while mentions arrive at
   50/s, two `roost worker` processes posting cards to the fake Slack (no rate
   limit); the time from intake (stored) to the card posted, p50 and p99.
4. Bluesky and Mastodon: a burst of mentions waiting on the fake Bluesky and the fake
   Mastodon (each in its own process), read by Intake.poll through the atproto SDK and
   Mastodon.py, numbered, stored and queued. Repeated; the rate, and where the time goes.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local
PostgreSQL `test` database; the benchmark works in a schema of its own),
BENCH_REDIS_URL (default redis://127.0.0.1:6379/13), BENCH_MENTIONS (20000),
BENCH_NETWORK_MENTIONS (2000, each burst on Bluesky and on Mastodon).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url

from bench.common import BENCH_LIMIT_FACTOR, bench_runtime, key_of
from bot.inbox.intake import Intake, Listener
from bot.runtime import Runtime
from storage.accounts import cursor, upsert_account
from storage.db import make_engine, upgrade
from storage.models import Account, Base, Mention
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "roost_bench"
CHANNEL = "C0BRAND"
AUTHORS = 500
HISTORY = 100_000  # mentions already in the table, from before the benchmark
REPEATS = 3
LATENCY_RATE = 50  # mentions per second
LATENCY_SECONDS = 20
WARM_UP_SECONDS = 2
WORKERS = 2

WORDS = (
    "my phone will not turn on after the update, can someone help? "
    "배터리가 너무 빨리 닳아요 충전기도 바꿔봤는데 그대로예요 "
    "ordered last week & still waiting <3 tracking says delivered but nothing here "
    "love the new camera!!! 🔥📸 best purchase this year"
).split()


def main() -> None:
    mentions = int(os.environ.get("BENCH_MENTIONS", "20000"))
    database = _bench_schema(
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    redis.flushdb()
    print(f"machine: {os.cpu_count()} cores; PostgreSQL schema {SCHEMA}; {mentions:,} mentions")

    x_url, brand, live, fake_x = _start_fake_x(mentions)
    slack_port, fake_slack = _start_fake_slack()
    rt = bench_runtime(
        database,
        redis,
        slack_token="xoxb-roost-fake-bot-token",
        slack_url=f"http://127.0.0.1:{slack_port}/api/",
        x_api_url=x_url,
        x_poll_seconds=1,
    )
    account = _add_brand(rt, *brand)
    _seed_history(rt, account)
    try:
        rates = [_intake_run(rt, account, mentions) for _ in range(REPEATS)]
        pages = _pages(rt, account)
        local_rates = [_ingest_run(rt, account, pages, mentions) for _ in range(REPEATS)]
        rows = _rows(rt, account)
        baselines = [_baseline_run(rt, rows) for _ in range(REPEATS)]
        p50, p99, carded = _card_latency(rt, account, live, x_url, database, key_of(rt), slack_port)
        burst = int(os.environ.get("BENCH_NETWORK_MENTIONS", "2000"))
        networks = {name: _network_intake(rt, name, burst) for name in ("bluesky", "mastodon")}
    finally:
        for child in (fake_slack,):
            child.terminate()
        fake_x.terminate()

    rate, baseline = statistics.median(rates), statistics.median(baselines)
    print(f"intake:   {_runs(rates)} mentions/s (median {rate:,.0f})")
    print(f"baseline: {_runs(baselines)} rows/s (median {baseline:,.0f})")
    print(f"ratio:    {rate / baseline:.2f} of the raw insert")
    local = statistics.median(local_rates)
    print(
        f"without the fetch from X (pages already in memory): {_runs(local_rates)} mentions/s, "
        f"{local / baseline:.2f} of the raw insert"
    )
    print(
        f"cards:    {carded} at {LATENCY_RATE}/s after a {WARM_UP_SECONDS} s warm-up, "
        f"intake to card p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    )
    for name, network_rates in networks.items():
        print(
            f"{name + ':':9} {_runs(network_rates)} mentions/s read through its SDK "
            f"(median {statistics.median(network_rates):,.0f}; bursts of {burst:,})"
        )
    print(
        json.dumps(
            {
                "mentions_per_s": round(rate),
                "baseline_rows_per_s": round(baseline),
                "ratio": round(rate / baseline, 3),
                "card_p99_ms": round(p99),
                **{
                    f"{name}_mentions_per_s": round(statistics.median(network_rates))
                    for name, network_rates in networks.items()
                },
            }
        )
    )


def _runs(values: list[float]) -> str:
    spread = (max(values) - min(values)) / statistics.median(values) * 100
    return ", ".join(f"{v:,.0f}" for v in values) + f" (spread {spread:.0f}%)"


# --- set-up ------------------------------------------------------------------


def _bench_schema(configured: str) -> str:
    url = make_url(configured).set(drivername="postgresql+psycopg")
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    scoped = url.update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    database = scoped.render_as_string(hide_password=False)
    upgrade(database)
    return database


def _serve_fake_x(mentions: int, pipe: Connection) -> None:
    """The fake X in a process of its own, so it does not share our GIL."""
    from sandbox.x_api import FakeX

    fake = FakeX(timeline_depth=mentions + 10_000).start()
    fake.limit_factor = BENCH_LIMIT_FACTOR
    brand = fake.add_user("brand", name="The Brand")
    authors = [
        fake.add_user(f"customer{n}", name=f"Customer {n}", followers=random.randint(0, 50_000))
        for n in range(AUTHORS)
    ]
    conversations: list[str] = []
    for n in range(mentions):
        author = random.choice(authors)["username"]
        body = " ".join(random.choices(WORDS, k=random.randint(4, 40)))
        reply_to = random.choice(conversations) if conversations and n % 5 == 0 else None
        media = ("photo",) if n % 7 == 0 else ()
        tweet = fake.post_mention(
            "brand", author=author, text=f"@brand {body}", reply_to=reply_to, media=media
        )
        if n % 10 == 0:
            conversations.append(tweet["id"])
    # The latency run reads another account: the burst runs spent the
    # brand's mentions-timeline rate limit, which intake rightly honours.
    live = fake.add_user("live", name="Live Brand")
    pipe.send(
        (
            fake.url,
            (brand, fake.issue_token(brand["id"])),
            (live, fake.issue_token(live["id"])),
        )
    )
    threading.Event().wait()  # serve until terminated


Identity = tuple[dict[str, Any], str]  # an X user and its access token


def _start_fake_x(mentions: int) -> tuple[str, Identity, Identity, Any]:
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_fake_x, args=(mentions, theirs), daemon=True
    )
    process.start()
    url, brand, live = ours.recv()
    return url, brand, live, process


def _start_fake_slack() -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.slack_api", "--port", str(port)]
        + ["--channel", f"{CHANNEL}:x-brand"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    _wait(lambda: _answers(f"http://127.0.0.1:{port}/api/auth.test"), 10)
    return port, process


def _add_brand(rt: Runtime, brand: dict[str, Any], token: str) -> Account:
    with rt.sessions.begin() as session:
        account, _ = upsert_account(
            session,
            x_user_id=int(brand["id"]),
            handle=brand["username"],
            name=brand["name"],
            channel_id=CHANNEL,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal({"access_token": token}),
            now=datetime.now(UTC) - timedelta(days=1),
        )
    return account


def _seed_history(rt: Runtime, account: Account) -> None:
    """A table in steady state: the account's past mentions, and fresh statistics.

    On a table that just got its first rows PostgreSQL's planner still
    believes it nearly empty and picks poor plans; a production table has
    history and statistics. The history's tweet ids are below anything the
    fake X hands out, so each run's mentions are all new.
    """
    moment = datetime.now(UTC) - timedelta(days=30)
    history = [
        {
            "account_id": account.id,
            "tweet_id": n,
            "conversation_id": n - n % 3,
            "root_tweet_id": n - n % 3,
            "author_id": n % AUTHORS,
            "author_username": f"customer{n % AUTHORS}",
            "text": " ".join(random.choices(WORDS, k=12)),
            "media": [],
            "flags": [],
            "author_verified": False,
            "author_protected": False,
            "status": "resolved",
            "created_at": moment,
            "received_at": moment,
            "slack_channel": CHANNEL,
            "slack_ts": f"{moment.timestamp():.0f}.{n:06d}",
            "card_posted_at": moment,
        }
        for n in range(1, HISTORY + 1)
    ]
    with rt.engine.begin() as connection:
        for start in range(0, HISTORY, 1000):
            connection.execute(insert(Mention), history[start : start + 1000])
    _analyze(rt)


def _delete_new(rt: Runtime, account_id: int) -> None:
    with rt.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM mentions WHERE account_id = :id AND tweet_id > :history"),
            {"id": account_id, "history": HISTORY},
        )
    _analyze(rt)


def _analyze(rt: Runtime) -> None:
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE mentions"))


def _reset(rt: Runtime, account: Account) -> None:
    """Forget what the last run stored, keeping the history."""
    _delete_new(rt, account.id)
    with rt.sessions.begin() as session:
        cursor(session, account.id, datetime.now(UTC)).position = str(HISTORY)  # read everything
    rt.redis.flushdb()


# --- 1. sustained intake -----------------------------------------------------


def _intake_run(rt: Runtime, account: Account, mentions: int) -> float:
    _reset(rt, account)
    intake = Intake(rt)
    started = time.perf_counter()
    stored = intake.poll(account)
    elapsed = time.perf_counter() - started
    assert stored == mentions, f"stored {stored} of {mentions}"
    queued = sum(len(job.args[1]) for job in rt.card_queue.get_jobs())
    assert queued == mentions, f"queued {queued} of {mentions}"
    return mentions / elapsed


def _pages(rt: Runtime, account: Account) -> list[dict[str, Any]]:
    """Every page of the timeline, fetched once, for a run that skips the fetch."""
    client = Intake(rt).client(account)
    pages, token = [], None
    while True:
        page = client.mentions_page(account.x_user_id, since_id=HISTORY, pagination_token=token)
        pages.append(page)
        token = (page.get("meta") or {}).get("next_token")
        if not token:
            return pages


def _ingest_run(rt: Runtime, account: Account, pages: list[dict[str, Any]], mentions: int) -> float:
    """Normalize, dedupe, store and enqueue only: where Roost's own time goes."""
    _reset(rt, account)
    intake = Intake(rt)
    started = time.perf_counter()
    stored = sum(intake.ingest(account, page) for page in pages)
    elapsed = time.perf_counter() - started
    assert stored == mentions, f"stored {stored} of {mentions}"
    return mentions / elapsed


# --- 2. the raw baseline -----------------------------------------------------


def _rows(rt: Runtime, account: Account) -> list[dict[str, Any]]:
    """The rows intake stored, as plain dicts, to insert again raw."""
    columns = [c for c in Base.metadata.tables["mentions"].columns if c.name != "id"]
    with rt.sessions() as session:
        stored = (
            session.execute(
                select(*columns).where(Mention.account_id == account.id, Mention.tweet_id > HISTORY)
            )
            .mappings()
            .all()
        )
    return [dict(row) for row in stored]


def _baseline_run(rt: Runtime, rows: list[dict[str, Any]]) -> float:
    _delete_new(rt, rows[0]["account_id"])
    statement = insert(Mention).on_conflict_do_nothing(index_elements=["account_id", "tweet_id"])
    started = time.perf_counter()
    for start in range(0, len(rows), 100):
        with rt.engine.begin() as connection:
            connection.execute(statement, rows[start : start + 100])
    return len(rows) / (time.perf_counter() - started)


# --- 3. intake to card -------------------------------------------------------


def _card_latency(
    rt: Runtime,
    brand: Account,
    live: Identity,
    x_url: str,
    database: str,
    key: str,
    slack_port: int,
) -> tuple[float, float, int]:
    _reset(rt, brand)
    with rt.sessions.begin() as session:
        session.get_one(Account, brand.id).intake_status = "paused"
    account = _add_brand(rt, *live)
    environment = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-roost-fake-bot-token",
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
        # This fake Slack limits no one: nor does Roost's pace (bench.surge keeps both).
        "ROOST_SLACK_PACE": "100",
        # A burst here is load, not a crisis: no surge holds its cards.
        "ROOST_SURGE_FLOOR": "1000000",
        "DATABASE_URL": database,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "ROOST_SECRET_KEY": key,
        "ROOST_LOG_LEVEL": "WARNING",
    }
    workers = [
        subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=environment)
        for _ in range(WORKERS)
    ]
    stop = threading.Event()
    listener = threading.Thread(target=Listener(rt).run, args=(stop,), daemon=True)
    listener.start()
    warm_up = LATENCY_RATE * WARM_UP_SECONDS
    total = LATENCY_RATE * LATENCY_SECONDS
    try:
        # The workers' first jobs pay for imports and connections; a running
        # Roost has paid them long ago, so they are not part of the figure.
        _inject(x_url, warm_up, "warm-up")
        _wait(lambda: _carded(rt) >= warm_up, 60)
        with rt.sessions() as session:
            measured_from = session.scalar(select(func.max(Mention.tweet_id))) or 0
        _inject(x_url, total, "live")
        _wait(lambda: _carded(rt) >= warm_up + total, 60)
    finally:
        stop.set()
        listener.join(timeout=10)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
    with rt.sessions() as session:
        times = session.execute(
            select(Mention.received_at, Mention.card_claimed_at, Mention.card_posted_at).where(
                Mention.account_id == account.id, Mention.tweet_id > measured_from
            )
        ).all()
    waits = [_ms(claimed - received) for received, claimed, _ in times]
    posts = [_ms(posted - claimed) for _, claimed, posted in times]
    for label, values in (("queued before a worker took it", waits), ("claimed to posted", posts)):
        print(f"          {label:31}: p50 {_p(values, 50):.0f} ms, p99 {_p(values, 99):.0f} ms")
    latencies = [_ms(posted - received) for received, _, posted in times]
    return _p(latencies, 50), _p(latencies, 99), len(latencies)


# --- 4. Bluesky and Mastodon ---------------------------------------------------------


def _serve_network(name: str, pipe: Connection) -> None:
    """The fake Bluesky or Mastodon in a process of its own: the brand, and on each number
    received that many mentions of it from customers, answered with "posted"."""
    from sandbox.bluesky_api import FakeBluesky
    from sandbox.mastodon_api import FakeMastodon

    fake: Any
    if name == "bluesky":
        fake = FakeBluesky().start()
        fake.set_rate_limit("global", 1_000_000)
        fake.add_account("brand.bsky.social", "app-pass-bench")
        authors = [f"customer{n}.bsky.social" for n in range(AUTHORS)]
        for author in authors:
            fake.add_account(author, "pw")
        secrets = {"handle": "brand.bsky.social", "app_password": "app-pass-bench"}

        def mention(author: str, body: str) -> None:
            fake.post_mention(author, f"@brand.bsky.social {body}")

    else:
        fake = FakeMastodon().start()
        fake.set_rate_limit("api", 1_000_000, 300.0)
        _, token = fake.add_account("brand")
        authors = [f"customer{n}@example.social" for n in range(AUTHORS)]
        secrets = {"access_token": token}

        def mention(author: str, body: str) -> None:
            fake.post_mention(author, body)

    pipe.send((fake.url, secrets))
    while True:
        count = pipe.recv()
        for _ in range(count):
            mention(
                random.choice(authors), " ".join(random.choices(WORDS, k=random.randint(4, 40)))
            )
        pipe.send("posted")


def _network_intake(rt: Runtime, name: str, burst: int) -> list[float]:
    """Mentions a second, `burst` at a time, from the network's fake into the database and
    the queue through Intake.poll (its SDK, numbering, storing, queueing)."""
    from bot.team.networks import connect_account

    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_network, args=(name, theirs), daemon=True
    )
    process.start()
    try:
        url, secrets = ours.recv()
        account, _ = connect_account(
            rt.sessions,
            rt.box,
            datetime.now(UTC) - timedelta(days=1),
            network=name,
            service=url,
            secrets=secrets,
            channel=CHANNEL,
        )
        intake = Intake(rt)
        ours.send(1)
        ours.recv()
        intake.poll(account)  # its position, from the newest page
        rates = []
        for _ in range(REPEATS):
            rt.redis.flushdb()
            ours.send(burst)
            ours.recv()
            started = time.perf_counter()
            stored = intake.poll(account)
            elapsed = time.perf_counter() - started
            assert stored == burst, f"{name}: stored {stored} of {burst}"
            rates.append(burst / elapsed)
        intake.close()
        return rates
    finally:
        process.terminate()


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def _p(values: list[float], percentile: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * percentile // 100)]


def _inject(x_url: str, total: int, label: str) -> None:
    """Post `total` mentions to the fake X at LATENCY_RATE per second."""
    session = requests.Session()
    started = time.perf_counter()
    for n in range(total):
        due = started + n / LATENCY_RATE
        time.sleep(max(0.0, due - time.perf_counter()))
        session.post(
            f"{x_url}/_control/mentions",
            json={"to": "live", "author": f"customer{n % AUTHORS}", "text": f"@live {label} {n}"},
            timeout=5,
        ).raise_for_status()


def _carded(rt: Runtime) -> int:
    with rt.sessions() as session:
        carded = select(Mention.id).where(
            Mention.tweet_id > HISTORY, Mention.card_posted_at.is_not(None)
        )
        return len(session.scalars(carded).all())


# --- helpers -----------------------------------------------------------------


def _answers(url: str) -> bool:
    try:
        requests.post(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's set-up did not come up in time")
        time.sleep(0.05)


if __name__ == "__main__":
    main()

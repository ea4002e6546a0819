"""Spend benchmark: what a busy account's day costs at X's pay-per-use prices, as Roost
counts it and as the fake X bills it, in poll mode and in stream mode, and what counting
costs intake.

Not a test: it prints its figures and ends with one JSON line.

A day: BENCH_SPEND_MENTIONS mentions (10,000) from 500 people, a fifth of them replies in
earlier conversations; 1,000 replies, 100 retweets, 50 DMs and 20 posts sent by the team
through Roost's own code (the outbound rows and the jobs that send them), on PostgreSQL and
Redis, against the fake X (its limits raised: this measures money, not X's limits).

Figures: dollars per 1,000 mentions handled in each mode, Roost's count against the fake
X's bill (they must agree to the micro-dollar), paid post reads per stored mention (target
at most 1.02), and the metering's cost in intake throughput: polling the same mentions with
and without it, alternating, the median of each (target at most 3% slower).

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local `test` database;
a schema of its own), BENCH_REDIS_URL (default redis://127.0.0.1:6379/15: the test
suite's workers use 9 to 12, and flush theirs), BENCH_SPEND_MENTIONS (10000).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from bench.common import BENCH_LIMIT_FACTOR, bench_runtime, postgres_schema, wait
from bot.inbox.intake import Intake
from bot.inbox.stream import StreamListener
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.posts.compose import Compose, submit
from bot.runtime import Runtime, install
from bot.team.people import Who
from bot.worker import RoostWorker
from bot.x import client as x_client_module
from bot.x.meter import total_key
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.accounts import upsert_account
from storage.models import Account, Mention, Outbound
from storage.team import grant, member, set_cotag

SCHEMA = "roost_bench_spend"
CHANNEL = "C0BRAND"
AGENT = "U0SPEND"
AUTHORS = 500
REPLIES, RETWEETS, DMS, POSTS = 1_000, 100, 50, 20
OVERHEAD_RUNS = 3


def main() -> None:
    mentions = int(os.environ.get("BENCH_SPEND_MENTIONS", "10000"))
    redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    started = time.monotonic()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    days = {mode: _day(mode, mentions, redis) for mode in ("poll", "stream")}
    for mode, figures in days.items():
        print(f"{mode}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    overhead = _metering_overhead(mentions, redis)
    print(
        f"metering: intake {overhead['with_per_s']:.0f} mentions/s counted, "
        f"{overhead['without_per_s']:.0f} not counted (medians of {OVERHEAD_RUNS}), "
        f"overhead {overhead['overhead']:.1%}"
    )
    print(f"took {time.monotonic() - started:.0f} s")
    print(
        json.dumps(
            {
                "usd_per_1000_mentions_poll": days["poll"]["usd_per_1000_mentions"],
                "usd_per_1000_mentions_stream": days["stream"]["usd_per_1000_mentions"],
                "paid_reads_per_mention": max(
                    days["poll"]["paid_reads_per_mention"],
                    days["stream"]["paid_reads_per_mention"],
                ),
                "metering_overhead": round(overhead["overhead"], 4),
                "counted_equals_billed": all(d["counted_equals_billed"] for d in days.values()),
                "poll": days["poll"],
                "stream": days["stream"],
            }
        )
    )


# --- one day ------------------------------------------------------------------------


def _day(mode: str, mentions: int, redis: Redis) -> dict[str, Any]:
    redis.flushdb()
    with _stack(mentions, redis) as (rt, fake, account, who, authors):
        if mode == "poll":
            _post_mentions(fake, authors, mentions)
            Intake(rt).poll(account)
        else:
            _stream(rt, fake, authors, mentions)
        stored = _stored(rt)
        _send_a_days_worth(rt, who)
        counted = sum(int(v) for v in redis.hgetall(total_key(account.id)).values()) / 1e6
        billed = round(fake.spend("brand") + fake.spend(None), 6)
        post_reads = sum(
            units
            for kind, units in _units(redis, account.id).items()
            if kind in ("read:post", "read:owned_post")
        )
        return {
            "mentions_stored": stored,
            "usd_counted": round(counted, 4),
            "usd_billed": round(billed, 4),
            "counted_equals_billed": round(counted, 6) == billed,
            "usd_per_1000_mentions": round(counted / stored * 1000, 3),
            "paid_reads_per_mention": round(post_reads / stored, 4),
            "sent": _sent(rt),
        }


@contextmanager
def _stack(mentions: int, redis: Redis) -> Iterator[tuple[Runtime, FakeX, Account, Who, list[str]]]:
    """A fresh schema, the fakes, a Runtime on them, the brand and its 500 customers."""
    with postgres_schema(SCHEMA) as database, FakeX(timeline_depth=mentions + 1_000) as fake:
        fake.limit_factor = BENCH_LIMIT_FACTOR
        with FakeSlack() as slack:
            slack.add_channel(CHANNEL, "x-brand")
            rt = bench_runtime(
                database,
                redis,
                slack_token=slack.bot_token,
                slack_url=slack.url,
                x_api_url=fake.url,
                x_bearer_token=fake.app_bearer,
            )
            install(rt)
            account, who = _brand(rt, fake, slack)
            authors = [fake.add_user(f"customer{n}")["username"] for n in range(AUTHORS)]
            yield rt, fake, account, who, authors


def _brand(rt: Runtime, fake: FakeX, slack: FakeSlack) -> tuple[Account, Who]:
    brand = fake.add_user("brand", name="The Brand")
    with rt.sessions.begin() as session:
        account, _ = upsert_account(
            session,
            x_user_id=int(brand["id"]),
            handle="brand",
            name="The Brand",
            channel_id=CHANNEL,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal({"access_token": fake.issue_token(brand["id"])}),
            now=datetime.now(UTC) - timedelta(days=1),
        )
        agent = member(session, slack.team_id, AGENT, rt.clock())
        set_cotag(session, agent, "^SP", rt.clock())
        grant(session, account, agent, "agent", rt.clock())
    return account, Who(slack.team_id, AGENT)


def _post_mentions(fake: FakeX, authors: list[str], count: int) -> None:
    conversations: list[str] = []
    for n in range(count):
        reply_to = random.choice(conversations) if conversations and n % 5 == 0 else None
        tweet = fake.post_mention(
            "brand", author=random.choice(authors), text=f"@brand help {n}", reply_to=reply_to
        )
        if n % 10 == 0:
            conversations.append(tweet["id"])


def _stream(rt: Runtime, fake: FakeX, authors: list[str], mentions: int) -> None:
    listener = StreamListener(rt)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait(lambda: fake.open_streams == 1, 30, "the stream to connect")
        _post_mentions(fake, authors, mentions)
        wait(lambda: _stored(rt) >= mentions, 300, "every mention from the stream")
        # What every reconnect does: read the timeline from just before the cursor, the
        # stream's posts again (X bills each once a day, and so does Roost's count).
        assert listener.stream is not None
        listener.stream.backfill()
    finally:
        stop.set()
        thread.join(timeout=60)


def _send_a_days_worth(rt: Runtime, who: Who) -> None:
    with rt.sessions() as session:
        ids = list(session.scalars(select(Mention.id).order_by(Mention.id)))
    for n, mention_id in enumerate(ids[:REPLIES]):
        draft = dataclasses.replace(Draft.new(mention_id, "reply"), text=f"On it ({n})")
        assert acting.publish(rt, who, draft).ok
    for n, mention_id in enumerate(ids[REPLIES : REPLIES + DMS]):
        draft = dataclasses.replace(Draft.new(mention_id, "dm"), text=f"Your order? ({n})")
        assert acting.publish(rt, who, draft).ok
    for mention_id in ids[REPLIES + DMS : REPLIES + DMS + RETWEETS]:
        acting.retweet(rt, who, mention_id)
    with rt.sessions() as session:
        account_id = session.scalars(select(Account.id)).one()
    for n in range(POSTS):
        compose = Compose(text=f"Today's news, part {n}", account_ids=[account_id], run_at=None)
        submit(rt, who, compose, key=f"spend-{n}")
    RoostWorker(rt.queues, connection=rt.redis).work(burst=True)


def _stored(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Mention)) or 0)


def _sent(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        rows = session.execute(
            select(Outbound.kind, func.count())
            .where(Outbound.status == "sent")
            .group_by(Outbound.kind)
        )
        return {kind: count for kind, count in rows}


def _units(redis: Redis, account_id: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for key in redis.scan_iter(f"roost:x-spend:{account_id}:*"):
        for field, value in redis.hgetall(key).items():
            name = field.decode()
            if name.endswith(":units"):
                kind = name.removesuffix(":units")
                found[kind] = found.get(kind, 0) + int(value)
    return found


# --- what counting costs ----------------------------------------------------------------


def _metering_overhead(mentions: int, redis: Redis) -> dict[str, float]:
    """Intake of the same mentions with and without the meter, alternating, each from an
    empty table and an empty day (so every read is counted, as on its first day)."""
    with _stack(mentions, redis) as (rt, fake, account, _, authors):
        _post_mentions(fake, authors, mentions)
        counted, uncounted = [], []
        meter = x_client_module.XBaseAdapter._meter
        for _ in range(OVERHEAD_RUNS):
            for on in (True, False):
                x_client_module.XBaseAdapter._meter = meter if on else _no_meter  # type: ignore[method-assign]
                try:
                    rate = _intake_rate(rt, account, redis, mentions)
                finally:
                    x_client_module.XBaseAdapter._meter = meter  # type: ignore[method-assign]
                (counted if on else uncounted).append(rate)
    with_rate, without_rate = statistics.median(counted), statistics.median(uncounted)
    return {
        "with_per_s": with_rate,
        "without_per_s": without_rate,
        "overhead": max(0.0, 1 - with_rate / without_rate),
    }


def _no_meter(self: Any, request: Any, response: Any) -> None:
    """The adapter's meter, off: for the comparison only."""


def _intake_rate(rt: Runtime, account: Account, redis: Redis, mentions: int) -> float:
    with rt.sessions.begin() as session:
        session.query(Mention).delete()
    for key in list(redis.scan_iter("roost:x-*")):
        redis.delete(key)
    for queue in rt.queues:
        queue.empty()
    started = time.perf_counter()
    stored = Intake(rt).poll(account, position="1")
    elapsed = time.perf_counter() - started
    assert stored == mentions, f"stored {stored} of {mentions}"
    return mentions / elapsed


if __name__ == "__main__":
    main()

"""Digest benchmark: composing a channel's digest and the 30-day stats over 100,000 mentions.

Not a test: it prints its figures and ends with one JSON line
(`mentions`, `digest_ms`, `stats_30d_ms`, the medians of the runs).

Ten accounts carding to one channel, so one digest covers every mention; 100,000
mentions spread evenly over the 30 days before the benchmark's "now", as intake and
delivery would have stored them: 70% answered (by one of 20 people, after 1 minute to
10 hours), half of those resolved, 4% still open and two thirds of those assigned, with
SLA targets that most of them have passed; texts in Korean and English with hashtags.
Three accounts keep business hours (Mon–Fri 09:00–18:00 Asia/Seoul), so their figures
go through the business-time clock.

`digest_ms` is `bot.digest.daily.gather` plus `bot.digest.views.digest_blocks`: every query the
digest makes (the 14 days of response rows, the open lists, the overdue lists, the day's
texts, today's scheduled posts) and the composition, as the worker runs it. `stats_30d_ms`
is `bot.digest.stats.gather_stats` plus `stats_blocks` for 30 days of all ten accounts, which reads
60 days of rows (the period and the one before) and every text of the 30 days. The chart
(the same PNG for both) is timed on its own. Slack is the fake Slack, in this process on
loopback: the digest asks it for the workspace's address (for the card links) and the names
of the people it names, once, in the first, cold run, which is reported apart; the timed
runs find both cached, as a worker's later digests do within the hour. The upload is
Slack's time, not Roost's, and is not made.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL `test`
database; the benchmark works in a schema of its own, dropped at the end), BENCH_MENTIONS
(100000), BENCH_RUNS (7).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import func, select, text

from bench.common import bench_runtime, postgres_schema
from bot.digest.charts import activity_chart
from bot.digest.daily import gather
from bot.digest.stats import gather_stats
from bot.digest.views import digest_blocks, stats_blocks
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack
from storage.accounts import upsert_account
from storage.db import insert_into
from storage.models import Account, Mention
from storage.team import member

SCHEMA = "roost_bench_digest"
CHANNEL = "C0BRANDS"
ZONE = "Asia/Seoul"
NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # a Thursday, 09:00 in Seoul
ACCOUNTS = 10
PEOPLE = 20
BATCH = 5_000
TARGET_MS = 2_000

WORDS = (
    "배송이 너무 늦어요 환불 문의 드립니다 앱이 안 열려요 결제 오류 주문 취소 교환 "
    "delivery late refund please app crash login broken order cancel thanks great service"
).split()
TAGS = ("#배송", "#환불", "#outage", "#app", "#sale")


def main() -> None:
    mentions = int(os.environ.get("BENCH_MENTIONS", "100000"))
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    load_before = os.getloadavg()
    with postgres_schema(SCHEMA) as database, FakeSlack() as slack:
        for n in range(PEOPLE):
            slack.add_user(_person(n), f"person {n}")
        rt = _runtime(database, slack)
        accounts = _add_accounts(rt)
        started = time.perf_counter()
        _add_mentions(rt, accounts, mentions)
        seeded = time.perf_counter() - started
        with rt.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        with rt.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Mention)) or 0
            everything = list(session.scalars(select(Account).order_by(Account.handle)))
        print(
            f"machine: {os.cpu_count()} cores, load {_load(load_before)}; PostgreSQL, "
            f"{stored:,} mentions of {ACCOUNTS} accounts over 30 days, stored in {seeded:.1f} s"
        )

        started = time.perf_counter()
        facts = gather(rt, CHANNEL, ZONE, NOW)
        _, blocks = digest_blocks(facts)
        cold = (time.perf_counter() - started) * 1000
        print(
            f"digest says: {facts.received:,} new, {facts.open_total:,} open, "
            f"{facts.overdue_total:,} overdue, {facts.week.answered:,} answered this week, "
            f"{len(blocks)} blocks, {len(facts.names)} people named; the first composition, "
            f"asking Slack (the fake, on loopback) for their names, took {cold:,.0f} ms"
        )

        digest = _time(runs, lambda: digest_blocks(gather(rt, CHANNEL, ZONE, NOW)))
        stats = _time(runs, lambda: stats_blocks(gather_stats(rt, everything, 30, ZONE)))
        week = facts.week
        chart = _time(
            runs,
            lambda: activity_chart(week.hours, week.response_by_hour, title="bench", zone=ZONE),
        )
        for name, values in (("digest", digest), ("stats 30d", stats), ("chart", chart)):
            print(f"{name:>10}: {_figures(values)}")
        print(f"load after: {_load(os.getloadavg())}; target < {TARGET_MS:,} ms each")
        result = {
            "mentions": stored,
            "digest_ms": round(statistics.median(digest), 1),
            "stats_30d_ms": round(statistics.median(stats), 1),
        }
        rt.engine.dispose()
    print(json.dumps(result))


def _time(runs: int, work: Callable[[], Any]) -> list[float]:
    """Milliseconds per run, after one warm-up run (imports, plans, caches)."""
    work()
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        found.append((time.perf_counter() - started) * 1000)
    return found


def _figures(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):,.1f} ms, min {min(values):,.1f}, "
        f"max {max(values):,.1f} ({len(values)} runs)"
    )


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


# --- set-up --------------------------------------------------------------------------------


def _person(n: int) -> str:
    return f"U0P{n:04d}"


def _runtime(database: str, slack: FakeSlack) -> Runtime:
    return bench_runtime(
        database,
        # Nothing is queued: the digest is composed, not sent. Nothing listens here.
        Redis(host="127.0.0.1", port=9),
        slack_token=slack.bot_token,
        slack_url=slack.url,
        clock=lambda: NOW,
        database_url=database,
        roost_time_zone=ZONE,
    )


def _add_accounts(rt: Runtime) -> list[Account]:
    hours = {"tz": ZONE, "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
    found = []
    with rt.sessions.begin() as session:
        for n in range(ACCOUNTS):
            account, _ = upsert_account(
                session,
                x_user_id=1000 + n,
                handle=f"brand{n}",
                name=f"Brand {n}",
                channel_id=CHANNEL,
                auth_kind="oauth2",
                sealed_credentials=rt.box.seal({"access_token": "unused"}),
                now=NOW - timedelta(days=60),
            )
            if n < 3:
                account.business_hours = hours
            found.append(account)
    return found


def _add_mentions(rt: Runtime, accounts: list[Account], count: int) -> None:
    chance = random.Random(7)
    span = timedelta(days=30).total_seconds()
    with rt.sessions.begin() as session:
        people = [member(session, "T0BENCH", _person(n), NOW).id for n in range(PEOPLE)]
    rows: list[dict[str, Any]] = []
    for n in range(count):
        account = accounts[n % ACCOUNTS]
        created = NOW - timedelta(seconds=span * (n + 0.5) / count)
        fate = chance.random()
        answered = fate < 0.70
        still_open = fate > 0.96
        resolved = answered and fate < 0.62
        tweet_id = 10**15 + n
        words = " ".join(chance.choice(WORDS) for _ in range(12))
        rows.append(
            {
                "account_id": account.id,
                "tweet_id": tweet_id,
                "conversation_id": tweet_id,
                "root_tweet_id": tweet_id,
                "author_id": 5000 + n % 7919,
                "author_username": f"user{n % 7919}",
                "text": f"@{account.handle} {words} {chance.choice(TAGS)}",
                "media": [],
                "flags": [],
                "created_at": created,
                "received_at": created + timedelta(seconds=3),
                "status": (
                    ("assigned" if n % 3 else "open")
                    if still_open
                    else ("resolved" if resolved else "replied" if answered else "ignored")
                ),
                "assignee_id": people[n % PEOPLE] if still_open and n % 3 else None,
                "first_response_at": (
                    created + timedelta(seconds=chance.uniform(60, 36_000)) if answered else None
                ),
                "first_responder_id": people[(n * 7) % PEOPLE] if answered else None,
                "resolver_id": people[(n * 11) % PEOPLE] if resolved else None,
                "resolved_at": created + timedelta(hours=chance.uniform(1, 48))
                if resolved
                else None,
                "sla_due_at": created + timedelta(hours=1),
                "slack_channel": CHANNEL,
                "slack_ts": f"{int(created.timestamp())}.{n % 10**6:06d}",
                "card_posted_at": created + timedelta(seconds=4),
                "card_attempts": 1,
                "author_verified": False,
                "author_protected": False,
            }
        )
    for start in range(0, count, BATCH):
        with rt.sessions.begin() as session:
            session.execute(insert_into(session, Mention.__table__), rows[start : start + BATCH])


if __name__ == "__main__":
    main()

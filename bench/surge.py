"""Surge benchmark: 10,000 mentions of one account in one minute, as Slack and X allow.

Not a test: it prints its figures and ends with one JSON line.

Everything runs as in production, on loopback: the fake X and the fake Slack in processes
of their own, both enforcing their limits (Slack: `chat.postMessage` about one a second a
channel, `chat.update` 50 a minute; X: its per-window and daily limits, the window
shortened to BENCH_X_WINDOW seconds so that several pass in a run, and Roost's
X_RATE_WINDOW_SECONDS with it), and Roost's `web`, `listen` (polling every second) and
two `worker`s on PostgreSQL and Redis.

1. The surge. The team names the three groups it expects (`/roost group`, as
   bench.grouping's NAMED) and switches surge mode on as the launch begins (`/roost surge on`),
   50 posts are scheduled to fall due across the coming minute, and then 10,000 mentions
   of @brand arrive at the fake X over one minute, each from an author of its own, their
   texts drawn in turn from the labelled set (bench/data/surge_mentions.jsonl, Korean and
   English). Meanwhile 20 people click on the web process once a second each: Reply to
   all on the largest group's card, and Reply on a mention, in turn.
   - stored: the mentions in the database once intake has read them all;
   - visible: for each mention, from intake (received_at) to the first moment Slack showed
     a count of its group that includes it, on the surge's board or the group's card (the
     fake Slack reports every message it takes, with the time; a group counts its mentions
     in the order they came);
   - Slack's 429s; the clicks' acknowledgement, p99; the scheduled posts' lateness (sent_at
     − run_at), p99;
   - purity: of the groups Roost made in the run, by the labels of their texts.
2. Reply to all, on the largest group, for its first 1,000 mentions (BENCH_REPLY_ALL), as
   the modal's submit starts it; the workers send them as X's window allows.
   - replies at X, duplicates (replies to one post beyond the first), the 429s X
     answered, and the most replies in one of X's windows against its limit.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL `test`
database; a schema of its own, dropped at the end), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/7, flushed before and after), BENCH_MENTIONS (10000),
BENCH_SECONDS (60), BENCH_REPLY_ALL (1000), BENCH_X_WINDOW (5).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from bench.common import (
    SlackElsewhere,
    Stack,
    WebProcess,
    answers,
    ask,
    bench_runtime,
    epoch,
    key_of,
    logged,
    percentile,
    postgres_schema,
    together,
    wait,
)
from bench.grouping import LABELLED, NAMED
from bot.inbox.cards import ACTION_REPLY
from bot.posts.compose import Compose, submit
from bot.runtime import Runtime
from bot.surge import batches
from bot.surge.cards import REPLY_ALL_ACTION
from bot.surge.detect import surge_command
from bot.surge.grouping import purity
from bot.surge.groups import group_command
from bot.team.people import Who
from sandbox.slack_api import BOT_TOKEN
from storage.accounts import upsert_account
from storage.models import Batch, Mention, Outbound, SurgeGroup
from storage.team import grant, member, set_cotag
from tests.conftest import BRAND_CHANNEL, SIGNING_SECRET
from tests.handlers.signed import card_click, dispatch
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "roost_bench_surge"
OWNER = "U0OWNER"
CLICKERS = 20
CLICK_EVERY = 1.0  # seconds from one person's click to their next
SCHEDULED = 50
WORKERS = 2
DEADLINE = 300.0  # seconds any one wait may take
TARGETS = {"visible_p99_s": 5.0, "ack_p99_ms": 100.0, "scheduled_late_p99_ms": 2000.0}

_SIZE = re.compile(r": ([\d,]+) mentions? of @")


def main() -> None:
    started = time.monotonic()
    mentions = int(os.environ.get("BENCH_MENTIONS", "10000"))
    seconds = float(os.environ.get("BENCH_SECONDS", "60"))
    reply_all = int(os.environ.get("BENCH_REPLY_ALL", "1000"))
    x_window = int(os.environ.get("BENCH_X_WINDOW", "5"))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    load_before = os.getloadavg()
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    try:
        with postgres_schema(SCHEMA) as database:
            print(
                f"machine: {os.cpu_count()} cores, load {_load(load_before)}; PostgreSQL, "
                f"schema {SCHEMA}; {mentions:,} mentions over {seconds:g} s, {CLICKERS} people "
                f"clicking, {SCHEDULED} posts due meanwhile, {WORKERS} workers; X's window "
                f"{x_window} s, Slack enforcing its limits"
            )
            with _Stack(database, redis_url, redis, mentions, x_window) as stack:
                surge = stack.surge(rows, mentions, seconds)
                replied = stack.reply_all(reply_all, x_window)
                slack_429 = ask(stack.slack_pipe, ("limited", None))
                x_429 = ask(stack.x_pipe, ("limited", None))
    finally:
        redis.flushdb()
    load_after = os.getloadavg()
    _report(surge, replied, slack_429, x_429, mentions)
    print(f"load:            {_load(load_before)} before, {_load(load_after)} after")
    for note in stack.log_notes:
        print(note)
    print(f"took {time.monotonic() - started:.0f} s")
    print(
        json.dumps(
            {
                "mentions": mentions,
                "stored": surge.stored,
                "visible_p99_s": round(percentile(surge.visible, 99), 2) if surge.visible else None,
                "slack_429": slack_429,
                "ack_p99_ms": round(percentile(surge.acks, 99), 1) if surge.acks else None,
                "reply_all_sent": replied.sent,
                "reply_all_duplicates": replied.duplicates,
                "x_limit_exceeded": sum(x_429.values()),
                "scheduled_late_p99_ms": (
                    round(percentile(surge.late, 99), 1) if surge.late else None
                ),
                "purity": round(surge.purity, 3),
            }
        )
    )


def _report(
    surge: _Surge, replied: _Replied, slack_429: int, x_429: dict[str, int], mentions: int
) -> None:
    print(
        f"stored:          {surge.stored:,} of {mentions:,}, in {surge.groups} groups "
        f"({surge.carded} with a card of their own)"
    )
    print(f"visible:         {_figures(surge.visible, 's')} from intake to a count in Slack")
    print(f"  not shown:     {surge.unseen:,} mentions no count in Slack ever included")
    print(f"slack 429s:      {slack_429}")
    print(f"clicks:          {len(surge.acks):,}; ack {_figures(surge.acks, 'ms')}")
    print(f"scheduled posts: {surge.sent:,} of {SCHEDULED} sent; late {_figures(surge.late, 'ms')}")
    print(f"purity:          {surge.purity:.3f} (labelled texts, the groups Roost made)")
    print(
        f"reply to all:    {replied.sent:,} of {replied.planned:,} planned sent in "
        f"{replied.took_s:.0f} s; {replied.duplicates} duplicates; the most in one of X's "
        f"windows {replied.busiest} (X allows {batches.LIMITS['reply'].per_window}, Roost "
        f"takes {batches.LIMITS['reply'].for_batches}); statuses {replied.statuses}"
    )
    left = "; ".join(f"{n:,} {batches.LEFT_OUT[why]}" for why, n in replied.left_out.items())
    print(f"  left out:      {left or 'none'}")
    print(f"x 429s:          {dict(x_429) or 0}")
    met = {
        "visible_p99_s": bool(surge.visible) and percentile(surge.visible, 99) <= 5.0,
        "slack_429": slack_429 == 0,
        "ack_p99_ms": bool(surge.acks) and percentile(surge.acks, 99) < 100,
        "scheduled_late_p99_ms": bool(surge.late) and percentile(surge.late, 99) < 2000,
        "reply_all": replied.duplicates == 0 and not x_429,
        "purity": surge.purity >= 0.85,
    }
    print(
        "targets:         " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in met.items())
    )


def _figures(values: list[float], unit: str) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.2f} {unit}, p90 {percentile(values, 90):.2f} {unit}, "
        f"p99 {percentile(values, 99):.2f} {unit}, max {max(values):.2f} {unit}"
    )


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{n:.2f}" for n in load)


class _Surge:
    def __init__(self) -> None:
        self.stored = 0
        self.groups = 0
        self.carded = 0
        self.visible: list[float] = []
        self.unseen = 0
        self.acks: list[float] = []
        self.late: list[float] = []
        self.sent = 0
        self.purity = 0.0


class _Replied:
    def __init__(self) -> None:
        self.planned = 0
        self.sent = 0
        self.duplicates = 0
        self.busiest = 0
        self.took_s = 0.0
        self.statuses = ""
        self.left_out: Counter[str] = Counter()


# --- the system under test -----------------------------------------------------------------


class _Stack(Stack):
    """The fakes, @brand, the team and Roost's processes; stopped on exit."""

    def __init__(
        self, database: str, redis_url: str, redis: Redis, mentions: int, x_window: int
    ) -> None:
        self.database, self.redis_url, self.redis = database, redis_url, redis
        self.mentions, self.x_window = mentions, x_window
        super().__init__("roost-bench-surge-")

    def _dispose(self) -> None:
        if hasattr(self, "rt"):
            self.rt.engine.dispose()

    def _read_logs(self, folder: Path) -> list[str]:
        return logged(folder, "Roost's processes")

    def _start(self) -> None:
        self.events = multiprocessing.get_context("spawn").Queue()
        self.cards = _Cards(self.events)
        threading.Thread(target=self.cards.run, daemon=True).start()
        self.x_pipe, x_url, brand, token = self._spawn(
            _serve_fake_x, (self.mentions, self.x_window)
        )
        self.slack_pipe, slack_url, team_id = self._spawn(_serve_fake_slack, self.events)
        self.rt = bench_runtime(
            self.database, self.redis, slack_token=BOT_TOKEN, slack_url=slack_url, x_api_url=x_url
        )
        self.team_id = team_id
        self.clickers = [f"U0CLICK{n:02d}" for n in range(CLICKERS)]
        self.account_id = _add_brand(self.rt, brand, token, team_id, self.clickers)
        self.slack = _Slack(team_id, self.slack_pipe)
        port = free_port()
        environment = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            "X_API_URL": x_url,
            "X_POLL_SECONDS": "1",
            "X_RATE_WINDOW_SECONDS": str(self.x_window),
            "ROOST_BATCH_SECONDS": "1",
            "DATABASE_URL": self.database,
            "REDIS_URL": self.redis_url,
            "ROOST_SECRET_KEY": key_of(self.rt),
            "ROOST_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "PORT": str(port),
        }
        for n, process in enumerate(["web", "listen"] + ["worker"] * WORKERS):
            with open(self.logs / f"{n}-{process}.log", "wb") as log:
                self.children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", process],
                        cwd=ROOT,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        self.events_url = f"http://127.0.0.1:{port}/slack/events"
        wait(lambda: answers(f"http://127.0.0.1:{port}/healthz"), DEADLINE, "the web process")

    # --- 1. the surge ---

    def surge(self, rows: list[dict[str, str]], mentions: int, seconds: float) -> _Surge:
        run = _Surge()
        owner = Who(self.team_id, OWNER)
        for name, (_, words) in NAMED:  # as a team would, before the launch
            group_command(self.rt, owner, f'@brand "{"|".join(words)}" "{name}"')
        said, _ = surge_command(self.rt, owner, "on @brand")
        assert "Surge mode is on" in said, said
        begins = datetime.now(UTC) + timedelta(seconds=3)
        post_ids = self._schedule(begins, seconds)
        texts = [f"@brand {rows[n % len(rows)]['text']}" for n in range(mentions)]
        labels = {text: rows[n % len(rows)]["label"] for n, text in enumerate(texts)}
        time.sleep(max(0.0, (begins - datetime.now(UTC)).total_seconds()))
        ask(self.x_pipe, ("inject", (texts, seconds)))
        ends = time.monotonic() + seconds
        run.acks = [ms for one in together(lambda n: self._click(n, ends), CLICKERS) for ms in one]
        wait(lambda: self._stored() >= mentions, DEADLINE, "intake to store every mention")
        wait(lambda: self._all_counted(), DEADLINE, "Slack to count every mention", every=0.5)
        wait(lambda: self._posts_done(post_ids), DEADLINE, "the scheduled posts")
        self._measure(run, labels, post_ids)
        return run

    def _schedule(self, begins: datetime, seconds: float) -> list[int]:
        """SCHEDULED posts due evenly across the surge's minute, by one of the clickers."""
        who = Who(self.team_id, self.clickers[0])
        step = seconds / SCHEDULED
        ids = []
        for n in range(SCHEDULED):
            at = begins + timedelta(seconds=1 + n * step)
            words = f"Launch day update {n}: stores open at 10, online orders ship in turn."
            post_id = submit(
                self.rt, who, Compose(words, [self.account_id], at), secrets.token_hex(8)
            )
            assert post_id is not None
            ids.append(post_id)
        return ids

    def _click(self, n: int, ends: float) -> list[float]:
        """One person clicking once a second until the surge's minute is over: Reply to all
        on the largest group's card, then Reply on one of the latest mentions."""
        web, timings = WebProcess(self.events_url), []
        due = time.monotonic() + random.uniform(0, CLICK_EVERY)
        turn = n
        while due < ends:
            time.sleep(max(0.0, due - time.monotonic()))
            due += CLICK_EVERY
            turn += 1
            target = self._largest_group() if turn % 2 else self._latest_mention()
            if target is None:
                continue
            action = {
                "action_id": REPLY_ALL_ACTION if turn % 2 else ACTION_REPLY,
                "block_id": f"click-{n}",
                "type": "button",
                "value": str(target),
            }
            answer = dispatch(web, card_click(self.slack, action, user=self.clickers[n]))  # type: ignore[arg-type]
            assert answer.status == 200, (answer.status, answer.body)
            timings.append(web.elapsed_ms)
        return timings

    def _largest_group(self) -> int | None:
        with self.rt.sessions() as session:
            return session.scalar(select(SurgeGroup.id).order_by(SurgeGroup.size.desc()).limit(1))

    def _latest_mention(self) -> int | None:
        with self.rt.sessions() as session:
            return session.scalar(select(func.max(Mention.id)))

    def _stored(self) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count(Mention.id))) or 0)

    def _all_counted(self) -> bool:
        with self.rt.sessions() as session:
            sizes = dict(session.execute(select(SurgeGroup.id, SurgeGroup.size)).all())
            grouped = session.scalar(
                select(func.count(Mention.id)).where(Mention.surge_group_id.is_not(None))
            )
        shown = self.cards.shown()
        return grouped == self._stored() and all(shown.get(g, 0) >= n for g, n in sizes.items())

    def _posts_done(self, post_ids: list[int]) -> bool:
        with self.rt.sessions() as session:
            pending = session.scalar(
                select(func.count(Outbound.id)).where(
                    Outbound.post_id.in_(post_ids), Outbound.status.in_(("pending", "sending"))
                )
            )
        return not pending

    def _measure(self, run: _Surge, labels: dict[str, str], post_ids: list[int]) -> None:
        with self.rt.sessions() as session:
            found = session.execute(
                select(
                    Mention.id, Mention.text, Mention.received_at, Mention.surge_group_id
                ).order_by(Mention.id)
            ).all()
            groups = list(session.scalars(select(SurgeGroup)))
            posts = session.execute(
                select(Outbound.status, Outbound.run_at, Outbound.sent_at).where(
                    Outbound.post_id.in_(post_ids)
                )
            ).all()
        run.stored = len(found)
        run.groups = len(groups)
        run.carded = sum(1 for g in groups if g.slack_ts is not None)
        events = self.cards.events()
        rank: Counter[int] = Counter()
        for _, _, received_at, group_id in found:
            if group_id is None:
                run.unseen += 1
                continue
            rank[group_id] += 1
            seen = next(
                (at for at, size in events.get(group_id, []) if size >= rank[group_id]), None
            )
            if seen is None:
                run.unseen += 1
            else:
                run.visible.append(max(0.0, seen - received_at.timestamp()))
        pairs = [(g, labels[t]) for _, t, _, g in found if g is not None and t in labels]
        run.purity = purity(pairs)
        run.late = [
            (sent_at - run_at).total_seconds() * 1000
            for status, run_at, sent_at in posts
            if status == "sent" and sent_at and run_at
        ]
        run.sent = len(run.late)

    # --- 2. reply to all ---

    def reply_all(self, count: int, x_window: int) -> _Replied:
        run = _Replied()
        with self.rt.sessions() as session:
            group_id = session.scalar(
                select(SurgeGroup.id).order_by(SurgeGroup.size.desc()).limit(1)
            )
            ids = session.scalars(
                select(Mention.id).where(Mention.surge_group_id == group_id).order_by(Mention.id)
            ).all()
            targets = set(
                session.scalars(select(Mention.tweet_id).where(Mention.id.in_(ids[:count]))).all()
            )
        assert group_id is not None and ids
        upto = ids[min(count, len(ids)) - 1]
        with self.rt.sessions() as session:
            group = session.get_one(SurgeGroup, group_id)
            run.left_out = batches.plan(self.rt, session, group, "reply", upto).left_out
        began = time.monotonic()
        problems = batches.start(
            self.rt,
            Who(self.team_id, self.clickers[1]),
            key=f"bench-{secrets.token_hex(4)}",
            group_id=group_id,
            kind="reply",
            upto=upto,
            text="Deliveries are running two days late; every order ships in turn.",
            with_link=False,
        )
        assert not problems, problems
        limit = batches.LIMITS["reply"]
        window = x_window + batches.WINDOW_MARGIN.total_seconds()
        longest = (count / limit.for_batches + 2) * window + 60
        wait(lambda: self._batch_over(), longest, "the reply to all", every=0.5)
        run.took_s = time.monotonic() - began
        with self.rt.sessions() as session:
            batch = session.scalars(select(Batch)).one()
            run.planned = batch.planned
            statuses = Counter(
                session.scalars(select(Outbound.status).where(Outbound.batch_id == batch.id))
            )
        run.statuses = ", ".join(f"{n} {s}" for s, n in statuses.most_common())
        replies = [
            p for p in ask(self.x_pipe, ("posts", None)) if p["in_reply_to_tweet_id"] is not None
        ]
        mine = [p for p in replies if int(p["in_reply_to_tweet_id"]) in targets]
        per_target = Counter(p["in_reply_to_tweet_id"] for p in mine)
        run.sent = len(per_target)
        run.duplicates = sum(n - 1 for n in per_target.values())
        moments = sorted(epoch(p["created_at"]) for p in replies)
        run.busiest = max(
            (sum(1 for t in moments if s <= t < s + x_window) for s in moments), default=0
        )
        return run

    def _batch_over(self) -> bool:
        with self.rt.sessions() as session:
            return session.scalar(select(Batch.status)) in ("done", "paused", "cancelled")


class _Slack(SlackElsewhere):
    """The fake Slack in its process: a response URL and a trigger for each click."""

    def __init__(self, team_id: str, pipe: Connection) -> None:
        super().__init__(team_id)
        self.pipe, self.lock = pipe, threading.Lock()

    def response_url(self) -> str:
        with self.lock:
            return str(ask(self.pipe, ("response_url", None)))

    def issue_trigger(self) -> str:
        with self.lock:
            return str(ask(self.pipe, ("trigger", None)))


class _Cards:
    """What Slack showed of each group's count, and when: the board's sizes and the group
    cards' counts, as the fake Slack reported the messages it took."""

    def __init__(self, events: Any) -> None:
        self.events_in = events
        self.lock = threading.Lock()
        self.by_group: dict[int, list[tuple[float, int]]] = defaultdict(list)
        self.card_of: dict[str, int] = {}  # a group card's ts -> its group

    def run(self) -> None:
        while True:
            kind, record, at = self.events_in.get()
            payload = (record.get("metadata") or {}).get("event_payload") or {}
            key = str(payload.get("key", ""))
            with self.lock:
                if key.startswith("surge-group:"):
                    self.card_of[record["ts"]] = int(key.split(":")[1])
                if "sizes" in payload:
                    for group_id, size in payload["sizes"].items():
                        self.by_group[int(group_id)].append((at, int(size)))
                group = self.card_of.get(record["ts"])
                found = _SIZE.search(record.get("text") or "")
                if group is not None and found:
                    self.by_group[group].append((at, int(found.group(1).replace(",", ""))))

    def shown(self) -> dict[int, int]:
        with self.lock:
            return {g: max(size for _, size in seen) for g, seen in self.by_group.items()}

    def events(self) -> dict[int, list[tuple[float, int]]]:
        with self.lock:
            return {g: sorted(seen) for g, seen in self.by_group.items()}


# --- the fakes, each in a process of its own -----------------------------------------------


def _serve_fake_x(argument: tuple[int, int], pipe: Connection) -> None:
    """The fake X with @brand and an author for each mention, X's window shortened.
    Answers ("inject", (texts, seconds)) by posting them as mentions of @brand over that
    many seconds (in a thread of its own), ("posts", None) with @brand's posts and
    ("limited", None) with the 429s it answered."""
    from sandbox.x_api import FakeX

    mentions, window = argument
    fake = FakeX(timeline_depth=mentions + 1_000).start()
    fake.window_seconds = window
    brand = fake.add_user("brand", name="The Brand")
    for n in range(mentions):
        fake.add_user(f"c{n:05d}")
    pipe.recv()
    pipe.send((fake.url, brand, fake.issue_token(brand["id"])))

    def inject(texts: list[str], seconds: float) -> None:
        began = time.monotonic()
        for n, text in enumerate(texts):
            time.sleep(max(0.0, began + n * seconds / len(texts) - time.monotonic()))
            fake.post_mention("brand", author=f"c{n:05d}", text=text)

    while True:
        question, argument = pipe.recv()
        if question == "inject":
            threading.Thread(target=inject, args=argument, daemon=True).start()
            pipe.send(None)
        elif question == "posts":
            pipe.send(fake.posts_by("brand"))
        else:
            pipe.send(dict(fake.rate_limited))


def _serve_fake_slack(events: Any, pipe: Connection) -> None:
    """The fake Slack enforcing its limits, with @brand's channel; it puts every top-level
    message it takes or updates in that channel on `events`, stamped with the wall clock.
    Answers ("response_url" | "trigger" | "limited", None)."""
    from sandbox.slack_api import FakeSlack

    def report(kind: str, record: dict[str, Any]) -> None:
        if kind in ("posted", "updated") and "thread_ts" not in record:
            events.put((kind, record, time.time()))

    fake = FakeSlack()
    fake.add_channel(BRAND_CHANNEL, "x-brand")
    for n in range(CLICKERS):
        fake.add_user(f"U0CLICK{n:02d}", f"clicker{n}")
    fake.enforce_limits()
    fake.subscribe(report)
    fake.start()
    pipe.recv()
    pipe.send((fake.url, fake.team_id))
    while True:
        question, _ = pipe.recv()
        if question == "response_url":
            pipe.send(fake.response_url())
        elif question == "trigger":
            pipe.send(fake.issue_trigger())
        else:
            pipe.send(fake.rate_limited)


# --- set-up --------------------------------------------------------------------------------


def _add_brand(
    rt: Runtime, brand: dict[str, Any], token: str, team_id: str, agents: list[str]
) -> int:
    """@brand, its owner, and the people clicking as its agents, each with a CoTag."""
    now = rt.clock()
    with rt.sessions.begin() as session:
        account, _ = upsert_account(
            session,
            x_user_id=int(brand["id"]),
            handle=brand["username"],
            name=brand["name"],
            channel_id=BRAND_CHANNEL,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal({"access_token": token}),
            now=now - timedelta(days=1),
        )
        grant(session, account, member(session, team_id, OWNER, now), "owner", now)
        for n, user in enumerate(agents):
            agent = member(session, team_id, user, now)
            set_cotag(session, agent, f"^C{chr(ord('A') + n)}", now)  # CoTags are one a person
            grant(session, account, agent, "agent", now)
        return account.id


if __name__ == "__main__":
    main()

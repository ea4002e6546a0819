"""Ack benchmark: how fast the web process answers Slack, and how fast a reply reaches its card.

Not a test: it prints its figures and ends with one JSON line.

Everything runs as in production, on loopback: `roost web` (waitress and Bolt) and two
`roost worker` processes as subprocesses; the fake Slack and the fake X each in a process of its
own, so they do not share the clickers' GIL; PostgreSQL and Redis. @brand's mentions are
delivered as cards first: posted on the fake X, read by `Intake.poll`, carded by the workers.
Requests are built and signed with Slack's scheme by tests/handlers/signed.py.

1. Ack: 20 clickers, each a thread with its own keep-alive session, its own Slack user (an
   agent on @brand) and its own mentions, press Resolve on each of their mentions, then Reopen
   on each, round after round, as fast as the answers come. A click's time runs from sending
   the POST to /slack/events to receiving the 200. One warm-up round, then two measured runs;
   after each, the benchmark waits until every click's work shows in Slack (a line in the
   card's thread, or a refusal sent to the response_url) and says how long that took. Then,
   to tell waiting from working: one clicker alone, and the 20 paced at a click every 0.5 s.
2. Publish: the Publish button of the reply preview (a view_submission of REPLY_PUBLISH_CALLBACK),
   five at a time, each for a mention of its own, after a warm-up. From sending the POST until
   the fake X holds the reply and the fake Slack has the chat.update showing "replied as" on
   the mention's card; with the moments between (answered, a worker took the outbound row).
   The fakes and the database stamp these with the wall clock; so does the sender.
3. Noise: the same 20 clickers against a constant WSGI app under waitress (the web process's
   server) in a process of its own: the floor that loopback, the HTTP client and the server put
   under the ack figures. The ack runs, repeated, show the spread.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL `test`
database; the benchmark works in a schema of its own, dropped at the end; an sqlite:// URL makes
it use a fresh file instead), BENCH_REDIS_URL (default redis://127.0.0.1:6379/8, flushed before
and after), BENCH_CLICKS (clicks per measured run, 1200), BENCH_PUBLISHES (200).
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from bench.common import (
    BENCH_LIMIT_FACTOR,
    SlackElsewhere,
    Stack,
    WebProcess,
    answers,
    ask,
    bench_runtime,
    epoch,
    key_of,
    percentile,
    together,
    wait,
)
from bot.inbox.cards import ACTION_REOPEN, ACTION_RESOLVE
from bot.inbox.intake import Intake
from bot.outbound.reply_modal import REPLY_PUBLISH_CALLBACK, Draft
from bot.runtime import Runtime
from bot.web import WEB_THREADS
from sandbox.slack_api import BOT_TOKEN
from storage.accounts import upsert_account
from storage.db import make_engine, upgrade
from storage.models import Account, Mention, Outbound
from storage.team import grant, member, set_cotag
from tests.conftest import BRAND_CHANNEL, SIGNING_SECRET
from tests.handlers.signed import card_click, dispatch, submit
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "roost_bench_ack"
AUTHORS = 50
CLICKERS = 20
MENTIONS_PER_CLICKER = 6
ACK_RUNS = 2
ALONE_ROUNDS = 10  # for one clicker alone: the ack without anyone else's clicks
PACED_EVERY = 0.5  # seconds between one clicker's clicks when paced, as a busy person might
PACED_ROUNDS = 2
PUBLISHERS = 5  # publishes in flight at once
PUBLISH_WARM_UP = 20
WORKERS = 2
TARGET_P99_MS = 100  # the issue's target for the ack, on this machine
DEADLINE = 120.0  # seconds any one wait of the benchmark may take


def main() -> None:
    started = time.monotonic()
    clicks = int(os.environ.get("BENCH_CLICKS", "1200"))
    publishes = int(os.environ.get("BENCH_PUBLISHES", "200"))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    rounds = max(1, math.ceil(clicks / (CLICKERS * 2 * MENTIONS_PER_CLICKER)))
    mentions = CLICKERS * MENTIONS_PER_CLICKER + PUBLISH_WARM_UP + publishes
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    try:
        with _bench_database() as (database, kind):
            print(f"machine: {os.cpu_count()} cores, load {load}; {kind}; {mentions} mentions")
            with _Stack(database, redis_url, redis, mentions) as stack:
                stack.card_everything()
                stack.clicks(rounds=1)  # warm-up: imports, connections, pools
                acks = [stack.clicks(rounds=rounds) for _ in range(ACK_RUNS)]
                alone = stack.clicks(rounds=ALONE_ROUNDS, clickers=1)
                paced = stack.clicks(rounds=PACED_ROUNDS, every=PACED_EVERY)
                floor = stack.floor(rounds)
                stack.publishes(PUBLISH_WARM_UP)
                published = stack.publishes(publishes)
    finally:
        redis.flushdb()

    every_click = [ms for run in acks for ms in run.ms]
    met = percentile(every_click, 99) < TARGET_P99_MS
    for n, run in enumerate(acks, 1):
        print(f"ack run {n}:      {_figures(run.ms)}")
        print(
            f"                 {run.rate:,.0f} clicks/s; {run.refused} refused; every click "
            f"shown in Slack {run.drained:.1f} s after the last answer"
        )
    print(f"ack, both runs:  {_figures(every_click)}")
    print(f"one clicker:     {_figures(alone.ms)}")
    print(f"paced:           {_figures(paced.ms)}")
    print(f"                 ({CLICKERS} clickers, each clicking every {PACED_EVERY} s)")
    print(f"target:          ack p99 < {TARGET_P99_MS} ms {'met' if met else 'NOT met'}")
    print(f"noise floor:     {_figures(floor)}")
    print(f"                 ({CLICKERS} clickers against a constant app under waitress)")
    print(f"publish:         {_figures(published.total)}")
    print("  from the click until")
    print(f"  the answer:    {_figures(published.ack)}")
    print(f"  a worker took: {_figures(published.claimed)}")
    print(f"  on X:          {_figures(published.on_x)}")
    print(f"  on the card:   {_figures(published.on_card)}")
    elapsed = time.monotonic() - started
    for refusal, count in stack.watch.refusals.most_common():
        print(f"refused {count} times: {refusal}")
    for note in stack.log_notes:
        print(note)
    print(f"took {elapsed:.0f} s")
    print(
        json.dumps(
            {
                "ack_p50_ms": round(percentile(every_click, 50), 1),
                "ack_p99_ms": round(percentile(every_click, 99), 1),
                "publish_p50_ms": round(percentile(published.total, 50), 1),
                "publish_p99_ms": round(percentile(published.total, 99), 1),
                "ack_clicks": len(every_click),
                "ack_p99_by_run_ms": [round(percentile(run.ms, 99), 1) for run in acks],
                "ack_target_met": met,
                "ack_refused": sum(run.refused for run in acks),
                "ack_alone_p99_ms": round(percentile(alone.ms, 99), 1),
                "ack_paced_p99_ms": round(percentile(paced.ms, 99), 1),
                "floor_p99_ms": round(percentile(floor, 99), 1),
                "publishes": len(published.total),
                "publish_ack_p99_ms": round(percentile(published.ack, 99), 1),
                "database": kind,
                "elapsed_s": round(elapsed),
            }
        )
    )


def _figures(values: list[float]) -> str:
    return (
        f"{len(values):,} · p50 {percentile(values, 50):.1f} ms, "
        f"p90 {percentile(values, 90):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


@dataclass
class AckRun:
    ms: list[float]
    rate: float  # clicks answered per second
    refused: int  # clicks Roost refused: the mention was not in the state the button assumed
    drained: float  # seconds from the last answer until every click showed in Slack


@dataclass
class PublishRun:
    """Milliseconds from the click until the reply is on X and on its card, and milestones."""

    total: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)  # the web process checked, wrote, queued
    claimed: list[float] = field(default_factory=list)  # a worker took the outbound row
    on_x: list[float] = field(default_factory=list)
    on_card: list[float] = field(default_factory=list)


# --- the system under test -----------------------------------------------------------------


class _Stack(Stack):
    """The fakes, the web process and the workers, with @brand's cards; stopped on exit."""

    def __init__(self, database: str, redis_url: str, redis: Redis, mentions: int) -> None:
        self.database, self.redis_url, self.redis = database, redis_url, redis
        self.mentions = mentions
        self.engines: list[Any] = []
        super().__init__("roost-bench-ack-")

    def _dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()

    def _read_logs(self, folder: Path) -> list[str]:
        return _read_logs(folder)

    def _start(self) -> None:
        events = multiprocessing.get_context("spawn").Queue()
        self.watch = _Watch(events)
        threading.Thread(target=self.watch.run, daemon=True).start()
        self.x_pipe, x_url, brand, token = self._spawn(_serve_fake_x, self.mentions)
        self.slack_pipe, slack_url, team_id = self._spawn(_serve_fake_slack, events)
        self.rt = bench_runtime(
            self.database, self.redis, slack_token=BOT_TOKEN, slack_url=slack_url, x_api_url=x_url
        )
        self.engines.append(self.rt.engine)
        self.account = _add_brand(self.rt, brand, token)
        self.clickers = [f"U0CLICK{n:02d}" for n in range(CLICKERS)]
        self.publishers = [f"U0PUBLISH{n}" for n in range(PUBLISHERS)]
        _add_agents(self.rt, self.account, team_id, self.clickers + self.publishers)
        self.slack = SlackElsewhere(team_id)
        port = free_port()
        environment = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            # This fake Slack limits no one: nor does Roost's pace (bench.surge keeps both).
            "ROOST_SLACK_PACE": "100",
            # A burst here is load, not a crisis: no surge holds its cards.
            "ROOST_SURGE_FLOOR": "1000000",
            "X_API_URL": x_url,
            "DATABASE_URL": self.database,
            "REDIS_URL": self.redis_url,
            "ROOST_SECRET_KEY": key_of(self.rt),
            "ROOST_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "PORT": str(port),
        }
        for n, process in enumerate(["web"] + ["worker"] * WORKERS):
            command = [sys.executable, "-m", "bot.cli", process]
            with open(self.logs / f"{n}-{process}.log", "wb") as log:
                self.children.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        self.events_url = f"http://127.0.0.1:{port}/slack/events"
        wait(
            lambda: answers(f"http://127.0.0.1:{port}/healthz"),
            DEADLINE,
            "the web process to answer",
        )

    def card_everything(self) -> None:
        """Intake reads every mention from the fake X; the workers post their cards."""
        stored = Intake(self.rt).poll(self.account)
        assert stored == self.mentions, f"intake stored {stored} of {self.mentions} mentions"
        wait(lambda: self._carded() == self.mentions, DEADLINE, "the workers to post every card")
        with self.rt.sessions() as session:
            found = session.execute(
                select(Mention.id, Mention.author_username).order_by(Mention.tweet_id)
            ).all()
        owned = CLICKERS * MENTIONS_PER_CLICKER
        self.clicked = [[row.id for row in found[n:owned:CLICKERS]] for n in range(CLICKERS)]
        self.to_publish = [(row.id, str(row.author_username)) for row in found[owned:]]

    def _carded(self) -> int:
        with self.rt.sessions() as session:
            carded = select(func.count()).where(Mention.card_posted_at.is_not(None))
            return session.scalar(carded) or 0

    # --- 1. ack ---

    def clicks(self, *, rounds: int, clickers: int = CLICKERS, every: float = 0.0) -> AckRun:
        """Each clicker resolves its mentions and reopens them, `rounds` times over.

        At once after each answer, or with `every` seconds from one click to the next, from
        a moment of its own chosen at random within the first `every` seconds.
        """
        with self.rt.sessions.begin() as session:
            # Every run starts from open cards, whatever refusals the last one met.
            ids = [mention_id for mine in self.clicked for mention_id in mine]
            session.execute(
                update(Mention).where(Mention.id.in_(ids)).values(status="open", resolved_at=None)
            )
        total = clickers * rounds * 2 * MENTIONS_PER_CLICKER
        self.slack.response_urls = ask(self.slack_pipe, total)
        logged, refused = self.watch.counts()

        def clicker(n: int) -> list[float]:
            web, timings = WebProcess(self.events_url), []
            due = time.monotonic() + random.uniform(0, every)
            for _ in range(rounds):
                for action_id in (ACTION_RESOLVE, ACTION_REOPEN):
                    for mention_id in self.clicked[n]:
                        time.sleep(max(0.0, due - time.monotonic()))
                        _press(web, self.slack, action_id, mention_id, self.clickers[n])
                        timings.append(web.elapsed_ms)
                        due += every
            return timings

        began = time.monotonic()
        timings = together(clicker, clickers)
        answered = time.monotonic()
        wait(
            lambda: sum(self.watch.counts()) - logged - refused >= total,
            DEADLINE,
            "every click shown",
        )
        ms = [t for one in timings for t in one]
        return AckRun(
            ms=ms,
            rate=len(ms) / (answered - began),
            refused=self.watch.counts()[1] - refused,
            drained=time.monotonic() - answered,
        )

    def floor(self, rounds: int) -> list[float]:
        """The clickers' pattern against a constant app: loopback, client and waitress only."""
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve_constant, args=(port,), daemon=True
        )
        server.start()
        try:
            wait(
                lambda: answers(f"http://127.0.0.1:{port}/"),
                DEADLINE,
                "the constant app to answer",
            )
            # Never called: the constant app answers nothing.
            self.slack.response_urls = (
                ["http://127.0.0.1/unused"] * CLICKERS * rounds * 2 * MENTIONS_PER_CLICKER
            )

            def clicker(n: int) -> list[float]:
                web, timings = WebProcess(f"http://127.0.0.1:{port}/slack/events"), []
                for _ in range(rounds * 2 * MENTIONS_PER_CLICKER):
                    _press(web, self.slack, ACTION_RESOLVE, self.clicked[n][0], self.clickers[n])
                    timings.append(web.elapsed_ms)
                return timings

            return [t for one in together(clicker, CLICKERS) for t in one]
        finally:
            server.terminate()
            server.join(timeout=10)

    # --- 2. publish ---

    def publishes(self, count: int) -> PublishRun:
        """Publish a reply to each of `count` fresh mentions, PUBLISHERS at a time."""
        mine, self.to_publish = self.to_publish[:count], self.to_publish[count:]
        assert len(mine) == count, "not enough mentions left to publish to"
        todo = iter(mine)
        lock = threading.Lock()
        sent: dict[int, tuple[float, float]] = {}  # mention id -> (sent at, ack ms)

        def publisher(n: int) -> None:
            web = WebProcess(self.events_url)
            while True:
                with lock:
                    mention_id, author = next(todo, (0, ""))
                if not mention_id:
                    return
                text = f"@{author} Thank you, we are looking into it (case {mention_id})."
                draft = Draft(mention_id, "reply", secrets.token_hex(8), text)
                _publish(web, self.slack, draft, self.publishers[n])
                sent[mention_id] = (web.sent_at, web.elapsed_ms)
                self.watch.wait_for_reply(mention_id)

        together(publisher, PUBLISHERS)
        posted = self._replies_at_x()
        with self.rt.sessions() as session:
            found = session.execute(
                select(Mention.id, Mention.tweet_id, Outbound.started_at)
                .join(Outbound, Outbound.mention_id == Mention.id)
                .where(Mention.id.in_(list(sent)))
            )
            rows = {row.id: (row.tweet_id, row.started_at.timestamp()) for row in found}
        run = PublishRun()
        for mention_id, (sent_at, ack_ms) in sent.items():
            tweet_id, claimed = rows[mention_id]
            at_x = posted[tweet_id]  # a KeyError: the card says replied, X has nothing
            on_card = self.watch.replied_at(mention_id)
            run.total.append((max(at_x, on_card) - sent_at) * 1000)
            run.ack.append(ack_ms)
            run.claimed.append((claimed - sent_at) * 1000)
            run.on_x.append((at_x - sent_at) * 1000)
            run.on_card.append((on_card - sent_at) * 1000)
        return run

    def _replies_at_x(self) -> dict[int, float]:
        """When @brand's replies were posted on the fake X, by the id of the post they answer."""
        return {
            int(post["in_reply_to_tweet_id"]): epoch(post["created_at"])
            for post in ask(self.x_pipe, "posts")
            if post["in_reply_to_tweet_id"]
        }


def _press(
    web: WebProcess, slack: SlackElsewhere, action_id: str, mention_id: int, user: str
) -> None:
    action = {
        "action_id": action_id,
        "block_id": f"mention:{mention_id}",
        "type": "button",
        "value": str(mention_id),
    }
    # signed.py types its helpers for the in-process app and fake; these quack alike.
    response = dispatch(web, card_click(slack, action, user=user))  # type: ignore[arg-type]
    assert response.status == 200, (response.status, response.body)


def _publish(web: WebProcess, slack: SlackElsewhere, draft: Draft, user: str) -> None:
    view = {"callback_id": REPLY_PUBLISH_CALLBACK, "private_metadata": draft.dump()}
    answer = submit(web, slack, view, user=user)  # type: ignore[arg-type]
    assert answer == {"response_action": "clear"}, answer


class _Watch:
    """What the fake Slack reports: cards showing a reply, thread lines, refusals."""

    def __init__(self, events: Any) -> None:
        self._events = events
        self._changed = threading.Condition()
        self._replied: dict[int, float] = {}  # mention id -> when its card first said so
        self._logged = 0
        self.refusals: Counter[str] = Counter()  # what Roost answered, how often

    def run(self) -> None:
        while True:
            kind, detail, at = self._events.get()
            with self._changed:
                if kind == "replied":
                    self._replied.setdefault(detail, at)
                elif kind == "logged":
                    self._logged += 1
                else:
                    self.refusals[detail] += 1
                self._changed.notify_all()

    def counts(self) -> tuple[int, int]:
        """Lines logged in card threads, and refusals sent to response URLs, so far."""
        with self._changed:
            return self._logged, self.refusals.total()

    def wait_for_reply(self, mention_id: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: mention_id in self._replied, DEADLINE):
                raise TimeoutError(f"the card of mention {mention_id} never showed the reply")

    def replied_at(self, mention_id: int) -> float:
        with self._changed:
            return self._replied[mention_id]


# --- the fakes, each in a process of its own -----------------------------------------------


def _serve_fake_x(mentions: int, pipe: Connection) -> None:
    """The fake X with @brand and its mentions; answers "posts" with @brand's posts."""
    from sandbox.x_api import FakeX

    fake = FakeX(timeline_depth=mentions + 100).start()
    fake.limit_factor = BENCH_LIMIT_FACTOR
    brand = fake.add_user("brand", name="The Brand")
    for n in range(AUTHORS):
        fake.add_user(f"customer{n}", name=f"Customer {n}")
    for n in range(mentions):
        fake.post_mention("brand", author=f"customer{n % AUTHORS}", text=f"@brand help {n}")
    pipe.recv()
    pipe.send((fake.url, brand, fake.issue_token(brand["id"])))
    while pipe.recv() == "posts":
        pipe.send(fake.posts_by("brand"))


def _serve_fake_slack(events: Any, pipe: Connection) -> None:
    """The fake Slack with the brand's channel; answers a number with that many response URLs.

    It puts on `events`, stamped with the wall clock: a card showing a reply (and the mention's
    id), a line logged in a card's thread, a refusal sent to a response URL (and its text).
    """
    from sandbox.slack_api import FakeSlack

    def report(kind: str, record: dict[str, Any]) -> None:
        at = time.time()
        if kind == "updated" and "replied as" in json.dumps(record["blocks"]):
            events.put(("replied", record["metadata"]["event_payload"]["mention_id"], at))
        elif kind == "posted" and "thread_ts" in record:
            events.put(("logged", None, at))
        elif kind == "response":
            events.put(("refused", record.get("text"), at))

    fake = FakeSlack()
    fake.add_channel(BRAND_CHANNEL, "x-brand")
    fake.subscribe(report)
    fake.start()
    pipe.recv()
    pipe.send((fake.url, fake.team_id))
    while isinstance(count := pipe.recv(), int):
        pipe.send([fake.response_url() for _ in range(count)])


def _serve_constant(port: int) -> None:
    """A WSGI app that reads the request and answers 200, under waitress as `roost web` is."""
    import logging

    from waitress import serve

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # its queue is not news here

    def constant(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    serve(constant, host="127.0.0.1", port=port, threads=WEB_THREADS, _quiet=True)


# --- set-up --------------------------------------------------------------------------------


@contextlib.contextmanager
def _bench_database() -> Iterator[tuple[str, str]]:
    """A migrated, empty database of the benchmark's own, gone afterwards; (URL, its kind)."""
    configured = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    url = make_url(configured)
    if url.get_backend_name() == "sqlite":
        folder = tempfile.mkdtemp(prefix="roost-bench-ack-")
        database = f"sqlite:///{folder}/roost.db"
        upgrade(database)
        try:
            yield database, "SQLite"
        finally:
            shutil.rmtree(folder)
        return
    admin = make_engine(url.set(drivername="postgresql+psycopg").render_as_string(False))
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    scoped = url.set(drivername="postgresql+psycopg").update_query_dict(
        {"options": f"-csearch_path={SCHEMA}"}
    )
    database = scoped.render_as_string(hide_password=False)
    try:
        upgrade(database)
        yield database, f"PostgreSQL, schema {SCHEMA}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def _add_brand(rt: Runtime, brand: dict[str, Any], token: str) -> Account:
    with rt.sessions.begin() as session:
        account, _ = upsert_account(
            session,
            x_user_id=int(brand["id"]),
            handle=brand["username"],
            name=brand["name"],
            channel_id=BRAND_CHANNEL,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal({"access_token": token}),
            # Added before the mentions were posted, so that intake takes them all.
            now=datetime.now(UTC) - timedelta(days=1),
        )
    return account


def _add_agents(rt: Runtime, account: Account, team_id: str, users: list[str]) -> None:
    """Each user an agent on the account, with a CoTag of their own (^AA, ^AB, ...)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    now = rt.clock()
    with rt.sessions.begin() as session:
        brand = session.get_one(Account, account.id)
        for n, user in enumerate(users):
            someone = member(session, team_id, user, now)
            set_cotag(session, someone, f"^{letters[n // 26]}{letters[n % 26]}", now)
            grant(session, brand, someone, "agent", now)


def _read_logs(folder: Path) -> list[str]:
    """How often a request waited for a waitress thread, and any error logged."""
    notes, errors = [], []
    for path in sorted(folder.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        if path.name.endswith("web.log"):
            queued = sum("Task queue depth" in line for line in lines)
            notes.append(f"web: a request waited for a free waitress thread {queued} times")
        errors += [f"{path.stem}: {line}" for line in lines if _is_error(line)]
    notes.append(f"errors logged by web and workers: {len(errors)}")
    return notes + errors[:10]


def _is_error(line: str) -> bool:
    return " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")


# --- helpers -------------------------------------------------------------------------------


if __name__ == "__main__":
    main()

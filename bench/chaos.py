"""Chaos benchmark: Roost's real processes killed, restarted and stormed, and nothing lost
or done twice.

Not a test: it prints its figures and ends with one JSON line.

Everything runs as in production, on loopback: `roost worker`, `roost listen` and
`roost run` as subprocesses, against PostgreSQL (a schema of the benchmark's own,
dropped at the end), a real `redis-server` the benchmark starts on a spare loopback
port (so that it can kill and restart it), and the fake Slack and the fake X, each in a
process of its own. Each scenario starts from an empty schema and an empty Redis.

1. Workers killed: 500 sends, 250 replies to mentions and 250 posts scheduled over the
   next 25 s, while three workers run; 20 times, one of them is SIGKILLed and another
   started. Every reply and post must be on X once.
2. Everything killed mid-burst: 1,000 mentions on X; the listener and two workers card
   them (the fake Slack taking 5 ms a message more); when 300 cards are in Slack every
   process is SIGKILLed, then all are started again. Every mention must be carded once;
   the figures are the seconds from the restart to the first card and to the last, and
   the rate before the kill (most of the time after it is carding the other 700).
3. Redis restarted: 100 posts scheduled 15 to 35 s ahead; the Redis server is killed and
   started empty (its data lost). Every post must go out once, none before its time.
4. Storms: 300 mentions and 100 replies while the fake Slack refuses one chat.postMessage
   in three with a 429 (Retry-After 1 s) and the fake X answers one post in three with a
   429 and one mentions read in three with a 503. Nothing lost, nothing twice.
5. Shutdown: `roost run` under a burst of 300 mentions, then SIGTERM: the seconds until
   it exits, its exit code, and the processes it leaves running.

Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL
`test` database); `redis-server` on the PATH.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from bench.common import BENCH_LIMIT_FACTOR, bench_runtime, key_of, postgres_schema, wait
from bot.inbox.intake import Intake
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.posts.compose import Compose, submit
from bot.team.people import Who
from sandbox.slack_api import BOT_TOKEN
from storage.accounts import upsert_account
from storage.models import Account, Mention, Outbound
from storage.team import grant, member, set_cotag
from tests.conftest import BRAND_CHANNEL, SIGNING_SECRET
from tests.processes import descendants, free_port, running

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "roost_bench_chaos"
AGENT = "U0CHAOS"
CUSTOMERS = 50
DEADLINE = 240.0
"""Seconds any one wait of the benchmark may take before it gives up and says so."""

LOOK_EVERY = 0.25
"""Seconds between the benchmark's looks at the fakes: each look copies every message the
fake Slack holds, work taken from the fake itself if done too often (the figures it
times are this precise)."""

ROUNDING = timedelta(milliseconds=5)

KILLS = 20
RECOVERY_TARGET_S = 30.0
SHUTDOWN_TARGET_S = 10.0


def main() -> None:
    started = time.monotonic()
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load {load}")
    results = {}
    for name, scenario in SCENARIOS.items():
        results[name] = result = scenario()
        print(f"{name}: " + ", ".join(f"{key} {value}" for key, value in result.items()))
    duplicates = sum(int(r.get("duplicates", 0)) for r in results.values())
    lost = sum(int(r.get("lost", 0)) for r in results.values())
    recovery = float(results["everything_killed"]["recovery_s"])
    shutdown = results["shutdown"]
    print(
        f"targets: duplicates 0 ({duplicates}), lost 0 ({lost}), recovery <= "
        f"{RECOVERY_TARGET_S:.0f} s ({recovery:.1f}), shutdown <= {SHUTDOWN_TARGET_S:.0f} s "
        f"({shutdown['shutdown_s']}), exit code 0 ({shutdown['exit_code']}), orphans 0 "
        f"({shutdown['orphans']})"
    )
    print(f"took {time.monotonic() - started:.0f} s")
    print(
        json.dumps(
            {
                "duplicates": duplicates,
                "lost": lost,
                "recovery_s": recovery,
                "shutdown_s": shutdown["shutdown_s"],
                "exit_code": shutdown["exit_code"],
                "orphans": shutdown["orphans"],
                **{name: result for name, result in results.items()},
            }
        )
    )


# --- the scenarios -----------------------------------------------------------------------


def _workers_killed() -> dict[str, Any]:
    with _Stack() as stack:
        stack.post_mentions(250)
        stored = Intake(stack.rt).poll(stack.account)
        assert stored == 250, f"intake stored {stored} of 250"
        expected = stack.publish_replies(250) + stack.schedule_posts(250, 2, 25)
        workers = [stack.roost.start("worker") for _ in range(3)]
        for _ in range(KILLS):
            time.sleep(random.uniform(0.3, 0.9))
            victim = random.choice(workers)
            victim.kill()
            victim.wait()
            workers[workers.index(victim)] = stack.roost.start("worker")
        _until(lambda: stack.settled() >= len(expected), "every send to settle")
        return {**stack.count_posts(expected), "kills": KILLS, "sends": len(expected)}


def _everything_killed() -> dict[str, Any]:
    with _Stack() as stack:
        burst = 1000
        stack.slack("slow", "chat.postMessage", 0.005, times=burst * 2)  # a burst that lasts
        stack.post_mentions(burst)
        began = time.monotonic()
        first = [stack.roost.start(name) for name in ("listen", "worker", "worker")]
        _until(lambda: stack.cards() >= 300, "300 cards before the kill")
        for process in first:
            process.kill()
            process.wait()
        carded_at_kill, rate = stack.cards(), stack.cards() / (time.monotonic() - began)
        restarted = time.monotonic()
        for name in ("listen", "worker", "worker"):
            stack.roost.start(name)
        _until(lambda: stack.cards() > carded_at_kill, "a card after the restart")
        first_card = time.monotonic() - restarted
        _until(lambda: stack.cards() >= burst, "every card after the restart")
        recovery = time.monotonic() - restarted
        time.sleep(2)  # anything posted twice would show by now
        return {
            **stack.count_cards(burst),
            "carded_at_kill": carded_at_kill,
            "cards_per_s_before": round(rate, 1),
            "first_card_s": round(first_card, 1),
            "recovery_s": round(recovery, 1),
        }


def _redis_restarted() -> dict[str, Any]:
    with _Stack() as stack:
        expected = stack.schedule_posts(100, 15, 35)
        for _ in range(2):
            stack.roost.start("worker")
        time.sleep(5)  # the workers run, the posts wait in Redis's schedule
        stack.redis_server.restart()  # killed, started empty
        _until(lambda: stack.settled() >= len(expected), "every scheduled post")
        return {**stack.count_posts(expected), "early": stack.early_posts()}


def _storms() -> dict[str, Any]:
    with _Stack() as stack:
        mentions = 300
        stack.slack("fail", "chat.postMessage", status=429, retry_after=1, times=10_000, every=3)
        stack.x("fail", "/2/users/", 503, method="GET", times=10_000, every=3)
        stack.x("fail", "/2/tweets", 429, method="POST", times=10_000, every=3, reset_in=1)
        stack.post_mentions(mentions)
        for name in ("listen", "worker", "worker"):
            stack.roost.start(name)
        _until(lambda: stack.stored() >= mentions, "the burst stored through the storm")
        expected = stack.publish_replies(100)
        _until(lambda: stack.cards() >= mentions, "every card through the storm")
        _until(lambda: stack.settled() >= len(expected), "every reply through the storm")
        cards, posts = stack.count_cards(mentions), stack.count_posts(expected)
        return {
            "duplicates": cards["duplicates"] + posts["duplicates"],
            "lost": cards["lost"] + posts["lost"],
            "slack_calls_refused": stack.slack_refused(),
        }


def _shutdown() -> dict[str, Any]:
    with _Stack() as stack:
        port = free_port()
        stack.post_mentions(300)
        run = stack.roost.start("run", PORT=str(port))
        _until(lambda: stack.cards() >= 50, "roost run carding")
        family = descendants(run.pid)
        began = time.monotonic()
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
        took = time.monotonic() - began
        orphans = [pid for pid in family if running(pid)]
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        return {"shutdown_s": round(took, 1), "exit_code": code, "orphans": len(orphans)}


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "workers_killed": _workers_killed,
    "everything_killed": _everything_killed,
    "redis_restarted": _redis_restarted,
    "storms": _storms,
    "shutdown": _shutdown,
}


def _until(predicate: Callable[[], bool], what: str) -> None:
    wait(predicate, DEADLINE, what, every=LOOK_EVERY)


# --- the system under test -----------------------------------------------------------------


class _Stack:
    """A fresh schema, Redis, fakes, @brand with an agent, and Roost's processes; all stopped
    and removed on exit."""

    def __enter__(self) -> _Stack:
        self.folder = Path(tempfile.mkdtemp(prefix="roost-bench-chaos-"))
        self._schema = postgres_schema(SCHEMA)
        self.database = self._schema.__enter__()
        self.redis_server = _RedisServer(self.folder)
        self.fakes = [_Fake("x"), _Fake("slack")]
        self.x_url, self.slack_url = (fake.url for fake in self.fakes)
        self.redis = Redis.from_url(self.redis_server.url)
        self.rt = bench_runtime(
            self.database,
            self.redis,
            slack_token=BOT_TOKEN,
            slack_url=self.slack_url,
            x_api_url=self.x_url,
        )
        self.account, self.team_id = self._brand()
        self.roost = _Processes(
            self.folder,
            {
                **os.environ,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.slack_url,
                # This fake Slack limits no one: nor does Roost's pace (bench.surge keeps both).
                "ROOST_SLACK_PACE": "100",
                # A burst here is load, not a crisis: no surge holds its cards.
                "ROOST_SURGE_FLOOR": "1000000",
                "X_API_URL": self.x_url,
                "X_POLL_SECONDS": "1",
                "DATABASE_URL": self.database,
                "REDIS_URL": self.redis_server.url,
                "ROOST_SECRET_KEY": key_of(self.rt),
                "ROOST_SWEEP_SECONDS": "5",
                "ROOST_VAR_DIR": str(self.folder / "var"),
                "ROOST_LOG_LEVEL": "WARNING",
            },
        )
        self.replies: list[int] = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        failed = exc_info and exc_info[0] is not None
        self.roost.stop(show_logs=bool(failed))
        self.redis.close()
        self.rt.engine.dispose()
        for fake in self.fakes:
            fake.stop()
        self.redis_server.stop()
        self._schema.__exit__(None, None, None)
        shutil.rmtree(self.folder, ignore_errors=True)

    def x(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return self.fakes[0].call(name, *args, **kwargs)

    def slack(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return self.fakes[1].call(name, *args, **kwargs)

    def _brand(self) -> tuple[Account, str]:
        brand = self.x("add_user", "brand", name="The Brand")
        for n in range(CUSTOMERS):
            self.x("add_user", f"customer{n}", name=f"Customer {n}")
        team_id = self.slack("__getattribute__", "team_id")
        with self.rt.sessions.begin() as session:
            account, _ = upsert_account(
                session,
                x_user_id=int(brand["id"]),
                handle="brand",
                name="The Brand",
                channel_id=BRAND_CHANNEL,
                auth_kind="oauth2",
                sealed_credentials=self.rt.box.seal(
                    {"access_token": self.x("issue_token", brand["id"])}
                ),
                now=datetime.now(UTC) - timedelta(days=1),  # so intake takes every mention
            )
            agent = member(session, team_id, AGENT, self.rt.clock())
            set_cotag(session, agent, "^CH", self.rt.clock())
            grant(session, account, agent, "agent", self.rt.clock())
        return account, team_id

    # --- what goes in

    def post_mentions(self, count: int) -> None:
        self.x("post_mentions", "brand", count, CUSTOMERS)

    def publish_replies(self, count: int) -> list[str]:
        """A reply to each of the first `count` stored mentions; the texts X will show."""
        who = Who(self.team_id, AGENT)
        with self.rt.sessions() as session:
            ids = list(session.scalars(select(Mention.id).order_by(Mention.id).limit(count)))
        texts = []
        for mention_id in ids:
            text = f"Thanks, looking into it (reply {mention_id})"
            draft = dataclasses.replace(Draft.new(mention_id, "reply"), text=text)
            checked = acting.publish(self.rt, who, draft)
            assert checked.ok, checked.problems
            texts.append(checked.measured.text)
        return texts

    def schedule_posts(self, count: int, earliest: float, latest: float) -> list[str]:
        """`count` posts due between `earliest` and `latest` seconds from now; their texts."""
        who = Who(self.team_id, AGENT)
        texts = []
        for n in range(count):
            at = datetime.now(UTC) + timedelta(seconds=random.uniform(earliest, latest))
            text = f"Scheduled news number {n} from {self.folder.name}"
            compose = Compose(text=text, account_ids=[self.account.id], run_at=at)
            submit(self.rt, who, compose, key=f"chaos-{self.folder.name}-{n}")
            texts.append(f"{text} ^CH")
        return texts

    # --- what came out

    def stored(self) -> int:
        with self.rt.sessions() as session:
            return session.scalar(select(func.count()).select_from(Mention)) or 0

    def cards(self) -> int:
        return int(self.slack("card_count", BRAND_CHANNEL))

    def settled(self) -> int:
        with self.rt.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Outbound)
                    .where(Outbound.status.in_(("sent", "failed", "unknown")))
                )
                or 0
            )

    def count_cards(self, expected: int) -> dict[str, int]:
        per_mention = Counter(self.slack("carded_mentions", BRAND_CHANNEL))
        duplicates = sum(n - 1 for n in per_mention.values() if n > 1)
        return {
            "cards": len(per_mention),
            "duplicates": duplicates,
            "lost": max(0, expected - len(per_mention)),
        }

    def count_posts(self, expected: list[str]) -> dict[str, int]:
        on_x = Counter(post["text"] for post in self.x("posts_by", "brand"))
        duplicates = sum(on_x[text] - 1 for text in expected if on_x[text] > 1)
        lost = sum(1 for text in expected if on_x[text] == 0)
        with self.rt.sessions() as session:
            statuses = Counter(session.scalars(select(Outbound.status)))
        rows = {f"rows_{status}": count for status, count in statuses.items()}
        return {"duplicates": duplicates, "lost": lost, **rows}

    def early_posts(self) -> int:
        """Posts X received before their row's time (X's clock is this machine's)."""
        on_x = {post["text"]: post["created_at"] for post in self.x("posts_by", "brand")}
        early = 0
        with self.rt.sessions() as session:
            for text, run_at in session.execute(select(Outbound.text, Outbound.run_at)):
                posted = on_x.get(text)
                if posted is None or run_at is None:
                    continue
                # X's times are in milliseconds, cut: a post at its time may look 1 ms early.
                if datetime.fromisoformat(posted.replace("Z", "+00:00")) < run_at - ROUNDING:
                    early += 1
        return early

    def slack_refused(self) -> int:
        """chat.postMessage calls the fake Slack refused (its storm's 429s)."""
        return int(self.slack("count_refused", "chat.postMessage"))


class _Processes:
    """Roost's processes, each logging to a file, and what is left of them at the end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{len(self.started):02d}-{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", name],
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def stop(self, *, show_logs: bool) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if show_logs:
            for path in sorted(self.folder.glob("*.log")):
                tail = path.read_text(errors="replace").splitlines()[-15:]
                print(f"--- the end of {path.stem}'s log", *tail, sep="\n", file=sys.stderr)


class _RedisServer:
    """A real redis-server on a spare loopback port, keeping nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait(self._answers, 10, "redis-server to start")

    def _answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except OSError:
            return False
        except Exception:  # redis' ConnectionError while it starts
            return False

    def restart(self) -> None:
        """Killed, then started again on the same port with nothing in it."""
        self.process.kill()
        self.process.wait()
        self._start()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class _Fake:
    """A fake (X or Slack) in a process of its own, driven by calls over a pipe."""

    def __init__(self, kind: str) -> None:
        self.pipe, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve_fake, args=(kind, theirs), daemon=True
        )
        self.process.start()
        self.url = self.call("__start__")

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        self.pipe.send((name, args, kwargs))
        outcome, value = self.pipe.recv()
        if outcome != "ok":
            raise RuntimeError(f"the fake failed {name}: {value}")
        return value

    def stop(self) -> None:
        self.pipe.send(("__stop__", (), {}))
        self.process.join(timeout=10)


def _serve_fake(kind: str, pipe: Connection) -> None:
    """The fake's process: starts it, then carries out each call sent over the pipe."""
    from sandbox.slack_api import FakeSlack
    from sandbox.x_api import FakeX

    fake: Any
    if kind == "x":
        fake = FakeX(timeline_depth=5000)
        fake.limit_factor = BENCH_LIMIT_FACTOR
    else:
        fake = FakeSlack()
        fake.add_channel(BRAND_CHANNEL, "x-brand")
    fake.start()
    extra: dict[str, Callable[..., Any]] = {
        "__start__": lambda: fake.url,
        "post_mentions": lambda to, count, authors: [
            fake.post_mention(to, author=f"customer{n % authors}", text=f"@{to} help {n}")
            for n in range(count)
        ][-1]["id"],
        "card_count": lambda channel: len(_carded(fake.messages(channel))),
        "carded_mentions": lambda channel: _carded(fake.messages(channel)),
        "count_refused": lambda method: (
            len(fake.calls_to(method)) - len(fake.messages(BRAND_CHANNEL))
        ),
    }
    while True:
        method, args, kwargs = pipe.recv()
        if method == "__stop__":
            fake.stop()
            return
        try:
            if method in extra:
                value = extra[method](*args, **kwargs)
            elif method == "__getattribute__":
                value = getattr(fake, args[0])
            else:
                value = getattr(fake, method)(*args, **kwargs)
            pipe.send(("ok", value))
        except Exception as exc:  # said to the benchmark, which stops and shows it
            pipe.send(("error", repr(exc)))


def _carded(messages: list[dict[str, Any]]) -> list[int]:
    """The mention id of each card (or card-thread reply) among the channel's messages."""
    return [
        int(found["event_payload"]["mention_id"])
        for message in messages
        if (found := message.get("metadata") or {}).get("event_type") == "roost_mention"
    ]


if __name__ == "__main__":
    main()

"""What the benchmarks share: figures, waiting, and a stack of processes to tear down.

Each benchmark runs the fakes in processes of their own (so they do not share the
measuring process's GIL) and Roost's own processes as subprocesses; `Stack` starts
them through its subclass's `_start`, and stops and cleans up all of them whatever
happened, printing the end of each log after a failure.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self, TypeVar

import requests
from cryptography.fernet import Fernet
from redis import Redis
from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.crypto import TokenBox
from bot.home import publish_home
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.client import make_client
from storage.db import make_engine, upgrade

T = TypeVar("T")

REQUEST_TIMEOUT = 120.0
"""Seconds a request from a benchmark to Roost's web process may take."""

BENCH_LIMIT_FACTOR = 1000
"""The fake X enforces X's rate limits (100 posts a user each 15 minutes, ...); a benchmark
sends far more than that to measure Roost, not X's limits, so it raises them all."""


def percentile(values: list[float], rank: int) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * rank / 100) - 1)]


def ask(pipe: Connection, question: Any) -> Any:
    """A question to a fake's process, and its answer."""
    pipe.send(question)
    return pipe.recv()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def wait(predicate: Callable[[], bool], timeout: float, what: str, *, every: float = 0.05) -> None:
    """Poll until `predicate` holds, every `every` seconds, or TimeoutError naming what did
    not come."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


class Stack:
    """The processes of one benchmark run: started on entry, all stopped on exit."""

    def __init__(self, prefix: str) -> None:
        self.children: list[subprocess.Popen[bytes]] = []  # Roost's processes
        self.processes: list[Any] = []  # the fakes
        self.logs = Path(tempfile.mkdtemp(prefix=prefix))
        self.log_notes: list[str] = []  # what the children's logs say, read on exit

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in self.children:
            child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for process in self.processes:
            process.terminate()
            process.join(timeout=10)
        self._dispose()
        self.log_notes = self._read_logs(self.logs)
        if exc_info and exc_info[0] is not None:
            for path in sorted(self.logs.glob("*.log")):
                tail = path.read_text(errors="replace").splitlines()[-20:]
                print(f"--- the end of {path.stem}'s log", *tail, sep="\n", file=sys.stderr)
        kept = os.environ.get("BENCH_KEEP_LOGS")  # a folder to copy the logs to, to read
        if kept:
            shutil.copytree(self.logs, kept, dirs_exist_ok=True)
        shutil.rmtree(self.logs)

    def _start(self) -> None:
        raise NotImplementedError

    def _dispose(self) -> None:
        """Close what the run holds in this process (engines)."""

    def _read_logs(self, folder: Path) -> list[str]:
        return []

    def _spawn(self, serve: Callable[[Any, Connection], None], argument: Any) -> Any:
        """Start a fake in a process of its own; its pipe, then what it sent on starting."""
        ours, theirs = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(argument, theirs), daemon=True
        )
        process.start()
        self.processes.append(process)
        return ours, *ask(ours, None)


@contextlib.contextmanager
def postgres_schema(schema: str) -> Iterator[str]:
    """A migrated, empty schema of the benchmark's own, dropped afterwards; its URL.

    The database is BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local `test`.
    """
    configured = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    url = make_url(configured).set(drivername="postgresql+psycopg")
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    database = scoped.render_as_string(hide_password=False)
    try:
        upgrade(database)
        yield database
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def bench_runtime(
    database: str,
    redis: Redis,
    *,
    slack_token: str,
    slack_url: str,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> Runtime:
    """A Runtime on the benchmark's database, Redis and Slack, with a key of its own;
    `settings` are any further Settings fields (x_api_url, roost_time_zone, …)."""
    key = Fernet.generate_key().decode()
    configured = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=slack_token,
        slack_api_url=slack_url,
        roost_secret_key=key,
        **settings,
    )
    rt = Runtime(
        settings=configured,
        engine=make_engine(database),
        redis=redis,
        slack=make_client(slack_token, configured.slack_api_url),
        box=TokenBox([key.encode()]),
        publish_home=publish_home,
    )
    if clock is not None:
        rt.clock = clock
    return rt


def key_of(rt: Runtime) -> str:
    """The runtime's token key, for Roost's own processes started beside it."""
    assert rt.settings.roost_secret_key is not None, "bench_runtime always sets one"
    return rt.settings.roost_secret_key.get_secret_value()


# --- Slack, seen from a benchmark --------------------------------------------------------


@dataclass
class SlackElsewhere:
    """What signed.py asks of the fake Slack, for one running in another process."""

    team_id: str
    response_urls: list[str] = field(default_factory=list)

    def response_url(self) -> str:
        return self.response_urls.pop()  # the fake made them; each click takes one

    def issue_trigger(self) -> str:
        """A click's trigger_id: the benchmarks' clicks (Resolve, Reopen) open no modal, so
        none is ever used (one the fake issued would expire in its 3 seconds anyway)."""
        return "T.unused"


class WebProcess:
    """Stands in for the Bolt app in signed.py: POSTs its signed requests to the web process.

    One per thread: a keep-alive session, and the timing of the last request.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.sent_at = 0.0  # the wall clock, which the fakes stamp their records with
        self.elapsed_ms = 0.0

    def dispatch(self, request: BoltRequest) -> BoltResponse:
        headers = {name: values[0] for name, values in request.headers.items()}
        body = request.raw_body.encode()
        self.sent_at = time.time()
        started = time.perf_counter()
        answer = self.session.post(self.url, data=body, headers=headers, timeout=REQUEST_TIMEOUT)
        self.elapsed_ms = (time.perf_counter() - started) * 1000
        return BoltResponse(status=answer.status_code, body=answer.text)


def together(work: Callable[[int], T], threads: int) -> list[T]:
    """Run work(0) ... work(threads - 1) at once, one thread each; their results."""
    start = threading.Barrier(threads)

    def run(n: int) -> T:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, range(threads)))


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def logged(folder: Path, whose: str) -> list[str]:
    """Errors and warnings `whose` logs (in the folder's *.log) hold: the errors counted,
    the first few shown, and the commonest warnings."""
    errors, warnings = [], Counter[str]()
    for path in sorted(folder.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback"):
                errors.append(f"{path.stem}: {line}")
            elif " WARNING " in line:
                warnings[line.split(" WARNING ", 1)[1][:80]] += 1
    notes = [f"errors logged by {whose}: {len(errors)}"] + errors[:10]
    notes += [f"warning, {n} times: {line}" for line, n in warnings.most_common(5)]
    return notes

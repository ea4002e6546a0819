"""The worker: stopping in bounded time, and jobs found wherever their code now lives."""

from __future__ import annotations

import ast
import threading
import time

from redis import Redis
from redis.client import PubSub
from rq import SimpleWorker
from rq.utils import import_attribute

from bot.runtime import Runtime
from bot.worker import MOVED_JOBS, Recurring, RoostJob, RoostWorker, _Ticker, alive_key
from tests.conftest import REPO_ROOT, wait_for


def noop() -> None:
    """A recurring job's body, for tests of how runs are queued."""


def test_the_shutdown_race_made_on_purpose_cannot_hang_a_roost_worker(redis: Redis) -> None:
    """RQ 2.12 unsubscribes, then stops its command thread; when that thread handles the
    unsubscribe reply first, it waits 60 s for a subscription that never comes, and so does
    the worker stopping it. Here the reply is always handled first."""
    original = PubSub.unsubscribe

    def unsubscribe_and_let_the_reply_land(self: PubSub, *args: object) -> object:
        answer = original(self, *args)
        # Back only once the command thread has read the reply, and so looped.
        wait_for(lambda: not self.subscribed_event.is_set(), timeout=5)
        return answer

    PubSub.unsubscribe = unsubscribe_and_let_the_reply_land  # type: ignore[method-assign]
    try:
        stock = SimpleWorker(["roost"], connection=redis)
        stock.subscribe()
        hanging = threading.Thread(target=stock.unsubscribe, daemon=True)
        hanging.start()
        hanging.join(timeout=3)
        assert hanging.is_alive(), "the race did not happen: this test proves nothing"

        ours = RoostWorker([], connection=redis)
        ours.subscribe()
        started = time.monotonic()
        ours.unsubscribe()
        assert time.monotonic() - started < 3
        assert ours.pubsub_thread is None
    finally:
        PubSub.unsubscribe = original  # type: ignore[method-assign]


def test_a_job_queued_under_a_moved_functions_old_name_still_runs(rt: Runtime) -> None:
    for old, new in MOVED_JOBS.items():
        job = rt.queue.enqueue(old, 1)
        assert RoostJob.fetch(job.id, connection=rt.redis).func is import_attribute(new)
    queued = rt.queue.enqueue("bot.delivery.deliver_mentions", 999, [1])  # no such account
    RoostWorker([rt.queue], connection=rt.redis).work(burst=True)
    assert queued.get_status(refresh=True) == "finished"


def test_every_job_named_by_its_path_exists() -> None:
    """Jobs queued by a dotted path (to keep a layer from importing one above it) name a
    function that is there: a typo would only show when the job runs."""
    named = set()
    for path in (REPO_ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("enqueue")
            ):
                named |= {
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and arg.value.startswith("bot.")
                }
    assert named, "no job is queued by its path any more: drop this test"
    for path in sorted(named):
        assert callable(import_attribute(path)), path


def test_a_recurring_run_waits_for_the_last_one_rather_than_piling_up(rt: Runtime) -> None:
    """While every worker was busy, a sweep a period queued up behind the last; they then
    ran back to back."""
    worker = RoostWorker([rt.queue], connection=rt.redis, recurring=[Recurring("t", 0.05, noop)])
    ticker = _Ticker(worker)

    ticker.tick()  # the run every worker queues as it starts, ahead of the rest
    first = rt.queue.job_ids
    for _ in range(4):
        time.sleep(0.06)
        ticker.tick()
    assert rt.queue.job_ids == first  # four periods passed; none queued behind it

    RoostWorker([rt.queue], connection=rt.redis).work(burst=True)
    time.sleep(0.06)
    ticker.tick()
    assert len(rt.queue.job_ids) == 1 and rt.queue.job_ids != first


def test_a_ticker_that_fails_keeps_ticking(rt: Runtime) -> None:
    """A ticker ended by an unexpected error stops renewing the worker's liveness while the
    worker goes on taking jobs: others would take its claims and run its jobs twice."""
    worker = RoostWorker([rt.queue], connection=rt.redis, name="ticking")
    ticker = _Ticker(worker)
    failures = []

    def failing_once() -> None:
        if not failures:
            failures.append(1)
            raise ValueError("a bug in a duty")

    ticker._move_due_jobs = failing_once  # type: ignore[method-assign]
    ticker.start()
    try:
        wait_for(lambda: failures)
        rt.redis.delete(alive_key("ticking"))
        wait_for(lambda: rt.redis.exists(alive_key("ticking")))
        assert ticker.is_alive()
    finally:
        ticker.stop()

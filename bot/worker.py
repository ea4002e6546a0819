"""The worker: RQ's SimpleWorker made to stop in bounded time, to tell who is alive,
and to run what recurs, once per period however many workers run.

Each worker keeps a ticker thread beside its job loop. Every TICK_SECONDS it
- renews its own liveness key, so others can tell it died within ALIVE_SECONDS
  (and at once on the same machine, from its pid);
- moves due scheduled jobs to the queue, as RQ's scheduler does, under RQ's
  scheduler lock; a lock whose holder died is taken over at once, so a restarted
  worker does not wait minutes for the dead one's lock to lapse;
- claims each recurring job's current period in Redis (SET NX) and, if it won,
  enqueues one run under an id of its own. No run reschedules itself, so no run
  can cancel the next, and a worker that starts also enqueues one run of each at
  once: whatever a crash left behind is swept without waiting a period.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.utils import import_attribute

from bot.queue import QUEUE_NAME

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
"""How often the ticker renews liveness, moves due scheduled jobs and claims periods."""

ALIVE_SECONDS = 5.0
"""A worker whose liveness key was not renewed for this long is dead: five ticks."""

SHUTDOWN_DEADLINE_SECONDS = 5.0
"""After a stop request, how long the job in hand may run before the worker stops it
(RQ's cold shutdown: the job fails or retries, and the sweep reconciles what it left)."""

PUBSUB_POLL_SECONDS = 1.0
"""How long RQ's command thread blocks between looks at its stop flag."""

_current: str | None = None


def current_worker() -> str | None:
    """The name of the worker running in this process, if one is: who owns a claim."""
    return _current


def alive_key(name: str) -> str:
    return f"roost:alive:{name}"


def worker_alive(redis: Redis, name: str) -> bool:
    """Whether the worker of that name is running: its liveness key is fresh and, on this
    machine, its process exists. Just after Redis lost its data every key is gone, the
    live workers' too: until each had ALIVE_SECONDS to renew its own, every worker counts
    as alive (and a dead one's claims wait for a later sweep)."""
    if not redis.exists(alive_key(name)):
        return not _liveness_known(redis)
    key = f"{SimpleWorker.redis_worker_namespace_prefix}{name}"
    hostname, pid = (_text(value) for value in redis.hmget(key, "hostname", "pid"))
    if hostname == socket.gethostname() and pid:
        return _process_exists(int(pid))
    return True


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


REDIS_EPOCH_KEY = "roost:redis-epoch"
"""Set once and never deleted: its absence means Redis lost its data since the last look."""


def redis_forgot(redis: Redis) -> bool:
    """Whether Redis lost its data (restarted without persistence, flushed) since the last
    call anywhere, and with it every queued and scheduled job; True once, to one caller."""
    return bool(redis.set(REDIS_EPOCH_KEY, str(time.time()), nx=True))


def _liveness_known(redis: Redis) -> bool:
    """Whether live workers have had ALIVE_SECONDS to renew their keys since Redis last
    lost its data (as far as any sweep noticed)."""
    since = _text(redis.get(REDIS_EPOCH_KEY))
    return since is not None and time.time() - float(since) > ALIVE_SECONDS


def requeue_orphans(queue: Queue) -> int:
    """Put back on the queue the jobs that workers which died (SIGKILLed, out of memory,
    their machine gone) had started; how many. RQ would fail them only once their
    heartbeat lapsed, minutes later. Roost's jobs are idempotent: a job that had done part
    of its work does the rest and nothing twice."""
    redis: Redis = queue.connection
    registry = queue.started_job_registry
    requeued = 0
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        entry = f"{job_id}:{execution_id}"
        try:
            job = Job.fetch(job_id, connection=redis)
        except NoSuchJobError:
            redis.zrem(registry.key, entry)
            continue
        if not job.worker_name or worker_alive(redis, job.worker_name):
            continue
        if redis.zrem(registry.key, entry):  # of several sweeps at once, one requeues it
            logger.warning("job %s of dead worker %s queued again", job.id, job.worker_name)
            queue.enqueue_job(job)
            requeued += 1
    return requeued


MOVED_JOBS = {
    "bot.delivery.deliver_mentions": "bot.inbox.delivery.deliver_mentions",
    "bot.delivery.notify_intake_stopped": "bot.inbox.intake.notify_intake_stopped",
    "bot.intake.notify_intake_stopped": "bot.inbox.intake.notify_intake_stopped",
    "bot.sla.remind": "bot.inbox.sla.remind",
    "bot.triage.show_status": "bot.inbox.triage.show_status",
    "bot.assignment.announce_assignment": "bot.inbox.assignment.announce_assignment",
    "bot.outbound.send_outbound": "bot.outbound.sending.send_outbound",
    "bot.outbound.reconcile_outbound": "bot.outbound.sending.reconcile_outbound",
    "bot.outbound.report_outbound": "bot.outbound.reports.report_outbound",
    "bot.oauth.announce_connected": "bot.team.connect.announce_connected",
    "bot.digest.send_digest": "bot.digest.daily.send_digest",
    "bot.digest.retry_person_digest": "bot.digest.daily.retry_person_digest",
}
"""Jobs queued under a module's old name before bot/ was arranged in packages (December
2026), and where each now lives: a job queued before an upgrade still runs after it.
Safe to drop once no Roost older than that has jobs in Redis."""


class RoostJob(Job):
    """RQ's Job, running a job queued under a moved function's old name."""

    @property
    def func(self) -> Any:
        moved = MOVED_JOBS.get(self.func_name or "")
        if moved is not None and not self.instance:
            return import_attribute(moved)
        return super().func


@dataclass(frozen=True)
class Recurring:
    """A job run once per `every` seconds by whichever worker claims the period first."""

    name: str
    every: float
    job: Callable[[], object]
    timeout: int = 300


class RoostWorker(SimpleWorker):
    """RQ's SimpleWorker: jobs run in this process, sharing its runtime and connection
    pools instead of rebuilding them in a fork per job. In a long-running worker (not a
    burst) the ticker runs beside the job loop; see the module's docstring.

    RQ 2.12 sends UNSUBSCRIBE on its command channel and then stops the thread reading
    it. With redis-py 8.2 that thread can handle the unsubscribe reply first, loop, and
    block in `subscribed_event.wait(60)` while stop() joins it with no timeout: a
    stopping worker hung for a minute now and then. Here the thread's flag is cleared
    before the UNSUBSCRIBE, the join is bounded, and the thread polls every second.
    """

    max_connection_wait_time = 5.0
    """The longest wait between tries while Redis does not answer (RQ's default is 60 s):
    a Redis back from a restart is working again within seconds."""

    def __init__(
        self,
        queues: Sequence[Queue],
        *,
        connection: Redis,
        recurring: Sequence[Recurring] = (),
        shutdown_deadline: float = SHUTDOWN_DEADLINE_SECONDS,
        **options: Any,
    ) -> None:
        # A name of its own per process start: RQ refuses to register a name whose
        # dead holder's key has not lapsed yet.
        host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())
        options.setdefault("name", f"{host}-{os.getpid()}-{os.urandom(3).hex()}")
        options.setdefault("job_class", RoostJob)
        super().__init__(list(queues), connection=connection, **options)
        self.recurring = tuple(recurring)
        self.shutdown_deadline = shutdown_deadline
        self._burst = False
        self.asked_to_stop = False  # by a signal, or RQ's shutdown command
        self._ticker: _Ticker | None = None
        self._escalation: threading.Timer | None = None
        self.logging_level: str | int = "INFO"

    def work(self, burst: bool = False, **options: Any) -> bool:  # type: ignore[override]
        self._burst = burst
        # The scheduler in the ticker sets up its own logger: at the level the worker's is.
        self.logging_level = options.get("logging_level", "INFO")
        return bool(super().work(burst=burst, **options))

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        global _current
        super().bootstrap(*args, **kwargs)
        _current = self.name
        if not self._burst:
            self._ticker = _Ticker(self)
            self._ticker.start()

    def teardown(self) -> None:
        global _current
        if self._escalation is not None:
            self._escalation.cancel()
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        _current = None
        super().teardown()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown, bounded: the job in hand gets `shutdown_deadline` seconds."""
        self.asked_to_stop = True
        self._escalation = threading.Timer(self.shutdown_deadline, self._escalate)
        self._escalation.daemon = True
        self._escalation.start()
        # Idle, RQ stops by raising StopRequested from this handler, wherever the main
        # thread is: inside a log call, logging swallows it ("--- Logging error ---") and
        # the worker would run on. Its loop also stops on this flag, at its next turn.
        self._stop_requested = True
        super().request_stop(signum, frame)

    def _escalate(self) -> None:
        logger.warning(
            "worker %s: the job in hand outlived the %.0f s shutdown deadline; stopping it",
            self.name,
            self.shutdown_deadline,
        )
        os.kill(os.getpid(), signal.SIGTERM)  # RQ's second signal: its cold shutdown

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def unsubscribe(self) -> None:
        """Stop the command thread: its flag first, so no reply can send it back to wait;
        then UNSUBSCRIBE, whose reply wakes it at once rather than at its next poll."""
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        self.pubsub_thread = None
        thread.stop(timeout=0)
        if thread.is_alive():
            try:
                pubsub.unsubscribe()
            except RedisError as exc:
                logger.debug("unsubscribing from %s: %s", self.pubsub_channel_name, exc)
        thread.join(timeout=PUBSUB_POLL_SECONDS + 1)
        if thread.is_alive():
            logger.warning("worker %s: command thread still running; leaving it", self.name)
        else:
            pubsub.close()


class _Ticker(threading.Thread):
    """The worker's background duties, one tick a second; see the module's docstring."""

    def __init__(self, worker: RoostWorker) -> None:
        super().__init__(name=f"ticker-{worker.name}", daemon=True)
        self.worker = worker
        self.redis: Redis = worker.connection
        # The sweep and its like go on the default queue: behind the team's own work.
        self.queue = next((q for q in worker.queues if q.name == QUEUE_NAME), worker.queues[0])
        self.stopping = threading.Event()
        self.queue_names = [q.name for q in worker.queues]
        self.scheduler = RQScheduler(
            self.queue_names,
            connection=worker.connection,
            name=worker.name,
            logging_level=worker.logging_level,
        )
        self.claimed: dict[str, int] = {}

    def run(self) -> None:
        # Nothing may end this thread but stop(): without it the worker would take jobs
        # while others, seeing no liveness, took its claims and queued its jobs again.
        while True:
            try:
                self.tick()
            except RedisError as exc:
                logger.warning(
                    "worker %s: ticker could not reach Redis (%s)", self.worker.name, exc
                )
            except Exception:
                logger.exception("worker %s: ticker failed; trying again", self.worker.name)
            if self.stopping.wait(TICK_SECONDS):
                return

    def tick(self) -> None:
        self.redis.set(alive_key(self.worker.name), "1", px=int(ALIVE_SECONDS * 1000))
        self._move_due_jobs()
        for recurring in self.worker.recurring:
            if recurring.name not in self.claimed:
                # At start, once each, whoever ran this period, ahead of any backlog: a
                # restart sweeps at once.
                self._enqueue(recurring, f"start-{self.worker.name}", at_front=True)
                self.claimed[recurring.name] = -1
            period = int(time.time() // recurring.every)
            if self.claimed[recurring.name] == period:
                continue
            key = f"roost:recurring:{recurring.name}:{period}"
            ttl = max(1, int(recurring.every * 3))
            if self.redis.set(key, self.worker.name, nx=True, ex=ttl):
                self._enqueue(recurring, str(period))
            self.claimed[recurring.name] = period

    def _move_due_jobs(self) -> None:
        """RQ's scheduler, in this thread: under its locks (one a queue), move due scheduled
        jobs. A lock a dead worker holds is taken over at once, each queue's on its own: a
        worker that got some locks but not a dead one's would leave that queue's jobs be."""
        acquired = self.scheduler.acquire_locks()
        taken_over = False
        for name in set(self.queue_names) - acquired:
            lock = self.scheduler.get_locking_key(name)
            holder = _text(self.redis.get(lock))
            if holder is not None and not worker_alive(self.redis, holder):
                logger.info(
                    "worker %s: taking over dead %s's scheduler lock for %s",
                    self.worker.name,
                    holder,
                    name,
                )
                release_lock(self.redis, lock, holder)
                taken_over = True
        if taken_over:
            acquired = self.scheduler.acquire_locks()
        if acquired:
            self.scheduler.enqueue_scheduled_jobs()

    def _enqueue(self, recurring: Recurring, run: str, *, at_front: bool = False) -> None:
        """Queue one run, unless the last one queued has not finished: while the workers
        are busy, runs would pile up behind one another and then run back to back."""
        last_key = f"roost:recurring:{recurring.name}:last"
        last = _text(self.redis.get(last_key))
        if last is not None and not at_front and self._unfinished(last):
            logger.info("worker %s: %s still waiting; not queued again", self.worker.name, last)
            return
        job = self.queue.enqueue(
            recurring.job,
            job_id=f"roost-{recurring.name}-{run}",
            job_timeout=recurring.timeout,
            result_ttl=0,
            failure_ttl=24 * 3600,
            description=f"{recurring.name} ({run})",
            at_front=at_front,
        )
        self.redis.set(last_key, job.id, ex=max(recurring.timeout, int(recurring.every)) * 2)

    def _unfinished(self, job_id: str) -> bool:
        """Whether the job is still queued, or running in a live worker."""
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:
            return True
        return status == JobStatus.STARTED and (
            job.worker_name is None or worker_alive(self.redis, job.worker_name)
        )

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=TICK_SECONDS * 2)
        try:
            self.scheduler.release_locks()
            self.redis.delete(alive_key(self.worker.name))
        except RedisError as exc:
            logger.warning("worker %s: leaving its locks to lapse (%s)", self.worker.name, exc)

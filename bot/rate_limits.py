"""429s met by any Roost process, counted in Redis so /metrics sees every process's.

Slack's and X's clients report each 429 here from inside the call that met it.
"""

from __future__ import annotations

import logging
from typing import Literal

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

Service = Literal["slack", "x"]
SERVICES: tuple[Service, ...] = ("slack", "x")


def rate_limit_key(service: Service) -> str:
    """The Redis key that counts the 429s `service` answered, across every process."""
    return f"roost:rate-limited:{service}"


def count_rate_limit(redis: Redis, service: Service) -> None:
    """Count one 429 from `service`.

    Called from inside the Slack or X call that met it: Redis failing here
    must not fail that call, so the 429 then goes uncounted.
    """
    try:
        redis.incr(rate_limit_key(service))
    except RedisError as exc:
        logger.debug("a 429 from %s went uncounted: %s", service, exc)

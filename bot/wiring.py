"""A process's runtime, put together from settings: the connections, and the functions
one domain hands another through it (see bot.runtime).

Every entry point (the `roost` processes, the benchmarks, a test's child process)
builds its runtime here, so none is missing a piece.
"""

from __future__ import annotations

from redis import Redis

from bot.home import publish_home
from bot.runtime import Runtime
from bot.settings import Settings


def runtime_from(settings: Settings, *, redis: Redis | None = None) -> Runtime:
    """Connect everything the settings describe (nothing is called yet)."""
    return Runtime.from_settings(settings, publish_home=publish_home, redis=redis)

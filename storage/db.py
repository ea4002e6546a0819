"""Engines, sessions and migrations.

SQLite under the var dir when DATABASE_URL is unset, PostgreSQL otherwise.
The web, worker and listener processes share one SQLite file, so it runs in
WAL mode with a busy timeout rather than failing on a concurrent write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, FromClause, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_FILE = "roost.db"


def database_url(configured: str | None, var_dir: Path) -> str:
    """The SQLAlchemy URL: the configured one, or SQLite under var_dir."""
    if configured:
        # Heroku-style URLs name the scheme "postgres"; SQLAlchemy wants a driver.
        for prefix in ("postgres://", "postgresql://"):
            if configured.startswith(prefix):
                return "postgresql+psycopg://" + configured[len(prefix) :]
        return configured
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(var_dir / SQLITE_FILE).resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas Roost relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database's schema up to `revision` (the `release` step)."""
    command.upgrade(alembic_config(url), revision)


def insert_into(session: Session, table: FromClause) -> Any:
    """The dialect's INSERT for `table`, so callers can say ON CONFLICT DO NOTHING.

    The table, not the entity: the ORM's bulk path would split rows into one
    statement per pattern of None values.
    """
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def ping(engine: Engine) -> None:
    """Raise unless the database answers."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))

"""Alembic environment: runs migrations against the URL storage.db configured."""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import pool

from storage.db import make_engine
from storage.models import Base

config = context.config
logger = logging.getLogger("roost.migrations")


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "storage.db.alembic_config sets sqlalchemy.url"
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one; with foreign keys
            # on, that drop would run every ON DELETE of the rows pointing at it (SET NULL,
            # CASCADE) and lose them. SQLite ignores this PRAGMA inside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                # Told, not raised: SQLite has committed each migration by now, and rows that
                # point at nothing may predate them.
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    logger.warning("rows pointing at nothing after migrating: %s", broken[:5])
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Roost runs migrations online only: roost db upgrade")
run_migrations_online()

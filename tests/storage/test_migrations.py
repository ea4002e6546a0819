"""Migrations: they build exactly the models' schema, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from storage.db import alembic_config, upgrade
from storage.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_nothing_and_back(db_url: str, engine: Engine) -> None:
    from alembic import command

    command.downgrade(alembic_config(db_url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    assert {"accounts", "mentions", "outbound", "events", "intake_cursors"} <= set(
        inspect(engine).get_table_names()
    )


def test_0006_fills_in_who_answered_and_who_resolved_from_what_was_stored(
    db_url: str, engine: Engine
) -> None:
    from alembic import command

    command.downgrade(alembic_config(db_url), "0005")
    at = "2026-11-20 10:00:00"
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO accounts (id, x_user_id, handle, name, channel_id, auth_kind,"
            " credentials, cotags_enabled, dm_cotags, banned_words, sla_minutes, intake_status,"
            f" created_at, updated_at) VALUES (1, 7, 'brand', 'Brand', 'C1', 'oauth2', 'x',"
            f" true, false, '[]', 60, 'active', '{at}', '{at}')",
            "INSERT INTO members (id, team_id, user_id, created_at) VALUES"
            f" (1, 'T1', 'U0EARLY', '{at}'), (2, 'T1', 'U0LATE', '{at}'),"
            f" (3, 'T1', 'U0OWNER', '{at}')",
            "INSERT INTO mentions (id, account_id, tweet_id, conversation_id, root_tweet_id,"
            " author_id, text, media, created_at, received_at, status, flags,"
            " first_response_at, resolved_at, card_attempts, author_verified, author_protected)"
            f" VALUES (1, 1, 100, 100, 100, 9, 'hi', '[]', '{at}', '{at}', 'resolved', '[]',"
            f" '{at}', '{at}', 1, false, false),"
            f" (2, 1, 101, 101, 101, 9, 'hi', '[]', '{at}', '{at}', 'open', '[]',"
            f" NULL, NULL, 1, false, false)",
            "INSERT INTO outbound (idempotency_key, kind, account_id, mention_id, actor_id, text,"
            " status, attempts, created_at, sent_at, part) VALUES"
            f" ('k1', 'reply', 1, 1, 2, 'late', 'sent', 1, '{at}', '2026-11-20 10:09:00', 0),"
            f" ('k2', 'dm', 1, 1, 1, 'early', 'sent', 1, '{at}', '2026-11-20 10:05:00', 0),"
            f" ('k3', 'reply', 1, 1, 3, 'failed', 'failed', 1, '{at}', NULL, 0)",
            "INSERT INTO notes (mention_id, author, slack_channel, slack_ts, text, created_at)"
            f" VALUES (1, 'U0EARLY', 'C1', '1.2', 'a note', '{at}')",
            "INSERT INTO events (at, kind, actor, account_id, mention_id, detail) VALUES"
            " ('2026-11-20 11:00:00', 'mention.resolved', 'U0LATE', 1, 1, '{}'),"
            " ('2026-11-20 12:00:00', 'mention.reopened', 'U0EARLY', 1, 1, '{}'),"
            " ('2026-11-20 13:00:00', 'mention.resolved', 'U0OWNER', 1, 1, '{}')",
        ):
            connection.execute(text(statement))
    upgrade(db_url)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT id, first_responder_id, resolver_id FROM mentions ORDER BY id")
        ).all()
    # The earliest sent reply or DM answered first; the latest resolve resolved it.
    assert [tuple(row) for row in found] == [(1, 1, 3), (2, None, None)]
    # SQLite rebuilds the altered table: nothing that points at it may lose its link or go.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT mention_id FROM outbound")).scalars().all() == [
            1,
            1,
            1,
        ]
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar() == 1
        assert (
            connection.execute(text("SELECT count(*) FROM events WHERE mention_id = 1")).scalar()
            == 3
        )

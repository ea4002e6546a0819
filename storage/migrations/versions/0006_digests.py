"""digests: per-channel digest schedules, what was sent each day, who answered and resolved

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_schedules",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("at_minute", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("weekdays_only", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_digest_schedules")),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("chart_posted_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("target", "slot", name="uq_digests_target_slot"),
    )
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.create_index("ix_digests_target_claimed", ["target", "claimed_at"])
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_responder_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_mentions_first_responder_id_members"),
            "members",
            ["first_responder_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.add_column(sa.Column("resolver_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_mentions_resolver_id_members"),
            "members",
            ["resolver_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_mentions_account_created", ["account_id", "created_at"])
        batch_op.create_index("ix_mentions_status", ["status", "account_id"])
        batch_op.create_index("ix_mentions_account_received", ["account_id", "received_at"])
    # Who answered first, for mentions answered before this column: the earliest sent reply or DM.
    op.execute(
        """
        UPDATE mentions SET first_responder_id = (
            SELECT o.actor_id FROM outbound o
            WHERE o.mention_id = mentions.id AND o.kind IN ('reply', 'dm')
              AND o.status = 'sent' AND o.sent_at IS NOT NULL
            ORDER BY o.sent_at, o.id LIMIT 1
        )
        WHERE first_response_at IS NOT NULL
        """
    )
    # And who resolved it: the person of the latest resolve the audit log holds.
    op.execute(
        """
        UPDATE mentions SET resolver_id = (
            SELECT m.id FROM events e JOIN members m ON m.user_id = e.actor
            WHERE e.mention_id = mentions.id AND e.kind = 'mention.resolved'
            ORDER BY e.at DESC, e.id DESC, m.id LIMIT 1
        )
        WHERE resolved_at IS NOT NULL AND status = 'resolved'
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_account_received")
        batch_op.drop_index("ix_mentions_status")
        batch_op.drop_index("ix_mentions_account_created")
        batch_op.drop_constraint(batch_op.f("fk_mentions_resolver_id_members"), type_="foreignkey")
        batch_op.drop_column("resolver_id")
        batch_op.drop_constraint(
            batch_op.f("fk_mentions_first_responder_id_members"), type_="foreignkey"
        )
        batch_op.drop_column("first_responder_id")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index("ix_digests_target_claimed")
    op.drop_table("digests")
    op.drop_table("digest_schedules")

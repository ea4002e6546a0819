"""Watched words: X's recent search, per account, into a channel, within a monthly budget;
and the watch each watched post came from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("query", sa.String(length=512), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("budget_micros", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("since_id", sa.BigInteger(), nullable=True),
        sa.Column("since_at", sa.DateTime(), nullable=True),
        sa.Column("resume", sa.JSON(), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("month_posts", sa.Integer(), nullable=False),
        sa.Column("month_micros", sa.BigInteger(), nullable=False),
        sa.Column("capped_month", sa.String(length=7), nullable=True),
        sa.Column("refused", sa.Text(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("stopped_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watches_account", "watches", ["account_id", "stopped_at"], unique=False)
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("watch_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_mentions_watch_id", ["watch_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_mentions_watch_id", "watches", ["watch_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_mentions_watch_id", type_="foreignkey")
        batch_op.drop_index("ix_mentions_watch_id")
        batch_op.drop_column("watch_id")
    op.drop_index("ix_watches_account", table_name="watches")
    op.drop_table("watches")

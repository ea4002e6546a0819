"""Surges: when an account's mentions came far faster than usual, or a team said so; the
groups of a surge's mentions, and the groups a team named

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "surges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("started_by", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_surges_open",
        "surges",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "surge_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("surge_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=True),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("shown_at", sa.DateTime(), nullable=True),
        sa.Column("shown", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["surge_id"], ["surges.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("surge_id", "key", name="uq_surge_groups_key"),
    )
    op.create_table(
        "group_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "name", name="uq_group_names_name"),
    )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("surge_group_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("surge_held_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("surge_listed_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_mentions_surge_group_id", ["surge_group_id"], unique=False)
        batch_op.create_index("ix_mentions_surge_held", ["surge_held_at"], unique=False)
        batch_op.create_foreign_key(
            "fk_mentions_surge_group_id",
            "surge_groups",
            ["surge_group_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_mentions_surge_group_id", type_="foreignkey")
        batch_op.drop_index("ix_mentions_surge_held")
        batch_op.drop_index("ix_mentions_surge_group_id")
        batch_op.drop_column("surge_listed_at")
        batch_op.drop_column("surge_held_at")
        batch_op.drop_column("surge_group_id")
    op.drop_table("group_names")
    op.drop_table("surge_groups")
    op.drop_index("uq_surges_open", table_name="surges")
    op.drop_table("surges")

"""Answers to many during a surge (Reply to all, Send to customer service), the status
updates posted during one, each account's customer-service DM, and what a surge's board
last showed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("cotag", sa.String(length=8), nullable=True),
        sa.Column("upto_mention_id", sa.Integer(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["members.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["surge_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index(
        "uq_batches_under_way",
        "batches",
        ["group_id", "kind"],
        unique=True,
        sqlite_where=sa.text("status IN ('running', 'paused')"),
        postgresql_where=sa.text("status IN ('running', 'paused')"),
    )
    op.create_table(
        "status_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("surge_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["surge_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["surge_id"], ["surges.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id"),
    )
    op.create_index(
        "ix_status_updates_surge", "status_updates", ["surge_id", "created_at"], unique=False
    )
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outbound_batch_id", ["batch_id"], unique=False)
        batch_op.create_index("ix_outbound_mention_batch", ["mention_id", "batch_id"], unique=False)
        batch_op.create_index("ix_outbound_recipient", ["recipient_id", "kind"], unique=False)
        batch_op.create_foreign_key(
            "fk_outbound_batch_id", "batches", ["batch_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("care_dm", sa.Text(), nullable=True))
    with op.batch_alter_table("surges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("board_shown", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("board_shown_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("surges", schema=None) as batch_op:
        batch_op.drop_column("board_shown_at")
        batch_op.drop_column("board_shown")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("care_dm")
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbound_batch_id", type_="foreignkey")
        batch_op.drop_index("ix_outbound_recipient")
        batch_op.drop_index("ix_outbound_mention_batch")
        batch_op.drop_index("ix_outbound_batch_id")
        batch_op.drop_column("batch_id")
    op.drop_index("ix_status_updates_surge", table_name="status_updates")
    op.drop_table("status_updates")
    op.drop_index("uq_batches_under_way", table_name="batches")
    op.drop_table("batches")

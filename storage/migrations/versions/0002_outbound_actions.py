"""outbound actions: reply, DM and retweet targets, approval, sending state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dm_cotags", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cotag", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("target_tweet_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("recipient_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("approver_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("logged_at", sa.DateTime(), nullable=True))
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_approver_id_members"),
            "members",
            ["approver_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_outbound_mention", ["mention_id"], unique=False)
        batch_op.create_index("ix_outbound_status", ["status", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_status")
        batch_op.drop_index("ix_outbound_mention")
        batch_op.drop_constraint(batch_op.f("fk_outbound_approver_id_members"), type_="foreignkey")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=20),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        for column in (
            "logged_at",
            "started_at",
            "attempts",
            "decided_at",
            "approver_id",
            "recipient_id",
            "target_tweet_id",
            "cotag",
        ):
            batch_op.drop_column(column)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("dm_cotags")

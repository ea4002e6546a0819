"""Saved replies: what a team answers with again and again, with placeholders; and the
saved reply each reply or DM began as

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=75), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_saved_replies_team", "saved_replies", ["team_id", "account_id"], unique=False
    )
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("saved_reply_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outbound_saved_reply_id", ["saved_reply_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_outbound_saved_reply_id",
            "saved_replies",
            ["saved_reply_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbound_saved_reply_id", type_="foreignkey")
        batch_op.drop_index("ix_outbound_saved_reply_id")
        batch_op.drop_column("saved_reply_id")
    op.drop_index("ix_saved_replies_team", table_name="saved_replies")
    op.drop_table("saved_replies")

"""assignment: when, the first-response target and its reminder; thread notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("sla_due_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("sla_reminded_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_mentions_assignee", ["assignee_id", "status"], unique=False)
        batch_op.create_index("ix_mentions_sla", ["sla_reminded_at", "sla_due_at"], unique=False)
        batch_op.create_index("ix_mentions_slack", ["slack_channel", "slack_ts"], unique=False)

    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=32), nullable=False),
        sa.Column("slack_channel", sa.String(length=32), nullable=False),
        sa.Column("slack_ts", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_notes_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        sa.UniqueConstraint("slack_channel", "slack_ts", name=op.f("uq_notes_slack_channel")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_mention", ["mention_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_mention")
    op.drop_table("notes")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_slack")
        batch_op.drop_index("ix_mentions_sla")
        batch_op.drop_index("ix_mentions_assignee")
        batch_op.drop_column("sla_reminded_at")
        batch_op.drop_column("sla_due_at")
        batch_op.drop_column("assigned_at")

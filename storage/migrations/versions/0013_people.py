"""What the team knows about people on X: notes that follow them, and marks (VIP, press,
blocked)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=15), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=32), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_person_notes_author", "person_notes", ["author_id", "created_at"], unique=False
    )
    op.create_table(
        "person_flags",
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("author_id"),
    )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.create_index("ix_mentions_author", ["author_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_author")
    op.drop_table("person_flags")
    op.drop_index("ix_person_notes_author", table_name="person_notes")
    op.drop_table("person_notes")

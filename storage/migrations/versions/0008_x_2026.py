"""X of 2026: whether a mention summons its account, the edits of a mention, and the X
limit an account has spent, and its monthly X budget

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("x_limit", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("x_limited_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("x_budget_cents", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("x_budget_hard", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summons", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("version_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_column("edited_at")
        batch_op.drop_column("version_id")
        batch_op.drop_column("summons")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("x_budget_hard")
        batch_op.drop_column("x_budget_cents")
        batch_op.drop_column("x_limited_until")
        batch_op.drop_column("x_limit")

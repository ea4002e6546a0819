"""Who is on duty (by hand, or by an account's weekly rota), and accounts that give
their new cards to them in turn

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("on_duty", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("duty_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("auto_assigned_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_assign_max", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rota", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("rota")
        batch_op.drop_column("auto_assign_max")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("auto_assigned_at")
        batch_op.drop_column("duty_since")
        batch_op.drop_column("on_duty")

"""Each account's phone region, and its own numbers, e-mail addresses and domains that
the personal-data guard lets through

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_region", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("own_data", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("own_data")
        batch_op.drop_column("phone_region")

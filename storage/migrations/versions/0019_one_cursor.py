"""One intake cursor for every network: X's since_id becomes its position, in X's words
(the newest id read), as Bluesky's and Mastodon's are

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE intake_cursors SET position = CAST(since_id AS VARCHAR(400)) "
        "WHERE since_id IS NOT NULL"
    )
    with op.batch_alter_table("intake_cursors") as batch:
        batch.drop_column("since_id")


def downgrade() -> None:
    with op.batch_alter_table("intake_cursors") as batch:
        batch.add_column(sa.Column("since_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE intake_cursors SET since_id = CAST(position AS BIGINT), position = NULL "
        "WHERE account_id IN (SELECT id FROM accounts WHERE network = 'x') "
        "AND position IS NOT NULL"
    )

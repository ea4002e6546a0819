"""Accounts on Bluesky and Mastodon beside X: each account's network and service, the
network ids Roost numbers for them, a post's own link, a network's cursor, and room for
handles and ids longer than X's

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("network", sa.String(length=16), nullable=False, server_default="x")
        )
        batch.add_column(sa.Column("service_url", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("post_limit", sa.Integer(), nullable=True))
        # A Bluesky handle is a domain name (253); a Mastodon one carries its instance; a
        # Bluesky display name may take 640 bytes.
        batch.alter_column(
            "handle", type_=sa.String(length=300), existing_type=sa.String(length=50)
        )
        batch.alter_column("name", type_=sa.String(length=640), existing_type=sa.String(length=100))
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("url", sa.String(length=400), nullable=True))
        batch.alter_column(
            "author_username", type_=sa.String(length=300), existing_type=sa.String(length=50)
        )
        batch.alter_column(
            "author_name", type_=sa.String(length=640), existing_type=sa.String(length=100)
        )
    with op.batch_alter_table("person_notes") as batch:
        batch.alter_column(
            "username", type_=sa.String(length=300), existing_type=sa.String(length=15)
        )
    with op.batch_alter_table("outbound") as batch:
        batch.add_column(sa.Column("url", sa.String(length=400), nullable=True))
        batch.alter_column("x_id", type_=sa.String(length=400), existing_type=sa.String(length=32))
    with op.batch_alter_table("intake_cursors") as batch:
        batch.add_column(sa.Column("position", sa.String(length=400), nullable=True))
    op.create_table(
        "network_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_refs")),
        sa.UniqueConstraint("network", "ref", name=op.f("uq_network_refs_network")),
    )


def downgrade() -> None:
    op.drop_table("network_refs")
    with op.batch_alter_table("intake_cursors") as batch:
        batch.drop_column("position")
    with op.batch_alter_table("outbound") as batch:
        batch.alter_column("x_id", type_=sa.String(length=32), existing_type=sa.String(length=400))
        batch.drop_column("url")
    with op.batch_alter_table("person_notes") as batch:
        batch.alter_column(
            "username", type_=sa.String(length=15), existing_type=sa.String(length=300)
        )
    with op.batch_alter_table("mentions") as batch:
        batch.alter_column(
            "author_name", type_=sa.String(length=100), existing_type=sa.String(length=640)
        )
        batch.alter_column(
            "author_username", type_=sa.String(length=50), existing_type=sa.String(length=300)
        )
        batch.drop_column("url")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("name", type_=sa.String(length=100), existing_type=sa.String(length=640))
        batch.alter_column(
            "handle", type_=sa.String(length=50), existing_type=sa.String(length=300)
        )
        batch.drop_column("post_limit")
        batch.drop_column("service_url")
        batch.drop_column("network")

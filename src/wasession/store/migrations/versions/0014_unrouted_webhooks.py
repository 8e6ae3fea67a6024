"""webhook verification: a secrets version the ack reads per body, and numbers no channel has

Revision ID: 0014_unrouted_webhooks
Revises: 0013_webhook_log_file
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0014_unrouted_webhooks"
down_revision = "0013_webhook_log_file"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "secrets_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets_version")),
    )
    op.create_table(
        "unrouted_numbers",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("phone_number_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bodies", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_unrouted_numbers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "phone_number_id", name=op.f("pk_unrouted_numbers")),
    )


def downgrade() -> None:
    op.drop_table("unrouted_numbers")
    op.drop_table("secrets_version")

"""fast clocks (a sped-up server's heartbeat, so other processes refuse a real channel while it runs)
and who wrote each agent message

Revision ID: 0018_team_inbox
Revises: 0017_chatwoot_connections
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0018_team_inbox"
down_revision = "0017_chatwoot_connections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fast_clocks",
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("started_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_fast_clocks")),
    )
    op.add_column("messages", sa.Column("author", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author")
    op.drop_table("fast_clocks")

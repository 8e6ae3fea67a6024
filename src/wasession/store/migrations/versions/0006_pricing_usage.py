"""pricing and usage: Meta's pricing and conversation facts per outbound message, referrals per session,
and a partial index of automated sends for the monthly cap

Revision ID: 0006_pricing_usage
Revises: 0004_webhook_log_outcome
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0006_pricing_usage"
down_revision = "0004_webhook_log_outcome"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


_AUTOMATED = "kind IN ('closing', 'reminder')"


def upgrade() -> None:
    op.create_index(
        "ix_messages_automated",
        "messages",
        ["channel_id", "sent_at"],
        sqlite_where=sa.text(_AUTOMATED),
        postgresql_where=sa.text(_AUTOMATED),
    )
    op.create_table(
        "message_pricing",
        sa.Column("message_id", _Id, nullable=False),
        sa.Column("channel_id", _Id, nullable=False),
        sa.Column("session_id", _Id, nullable=False),
        sa.Column("pricing_model", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("pricing_type", sa.String(length=64), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=True),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("origin_type", sa.String(length=64), nullable=True),
        sa.Column("expires_at", wasession.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_order", sa.Integer(), nullable=False),
        sa.Column("updated_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_pricing_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_message_pricing_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_message_pricing_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_pricing")),
    )
    op.create_index("ix_message_pricing_session", "message_pricing", ["session_id"])
    op.create_index("ix_message_pricing_channel", "message_pricing", ["channel_id"])
    op.create_table(
        "session_referrals",
        sa.Column("session_id", _Id, nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("referral", sa.JSON(), nullable=False),
        sa.Column("received_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_referrals_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_referrals")),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_automated", table_name="messages")
    op.drop_table("session_referrals")
    op.drop_index("ix_message_pricing_channel", table_name="message_pricing")
    op.drop_index("ix_message_pricing_session", table_name="message_pricing")
    op.drop_table("message_pricing")

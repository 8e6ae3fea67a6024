"""chatwoot connections (issue 22): connections, the conversation map, what was seen, calls to make

Revision ID: 0017_chatwoot_connections
Revises: 0016_rates_budget_optout
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0017_chatwoot_connections"
down_revision = "0016_rates_budget_optout"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = wasession.store.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chatwoot_connections",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("inbox_phone", sa.String(length=32), server_default="", nullable=False),
        sa.Column("api_token_enc", sa.Text(), nullable=False),
        sa.Column("webhook_secret_enc", sa.Text(), nullable=True),
        sa.Column("send_via", sa.String(length=16), server_default="chatwoot", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("event_cursor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", _AT, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_chatwoot_connections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_chatwoot_connections_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chatwoot_connections")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_chatwoot_connections_channel_id")),
    )
    op.create_table(
        "chatwoot_conversations",
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chatwoot_connections.id"],
            name=op.f("fk_chatwoot_conversations_connection_id_chatwoot_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "conversation_id", name=op.f("pk_chatwoot_conversations")),
    )
    op.create_index(
        "ix_chatwoot_conversations_source", "chatwoot_conversations", ["connection_id", "source_id"], unique=False
    )
    op.create_table(
        "chatwoot_seen",
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chatwoot_connections.id"],
            name=op.f("fk_chatwoot_seen_connection_id_chatwoot_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "key", name=op.f("pk_chatwoot_seen")),
    )
    op.create_table(
        "chatwoot_calls",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("session_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", _AT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("done_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chatwoot_connections.id"],
            name=op.f("fk_chatwoot_calls_connection_id_chatwoot_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_chatwoot_calls_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chatwoot_calls")),
    )
    op.create_index("ix_chatwoot_calls_due", "chatwoot_calls", ["state", "next_attempt_at"], unique=False)
    op.create_index("ix_chatwoot_calls_session", "chatwoot_calls", ["session_id", "kind", "state"], unique=False)


def downgrade() -> None:
    op.drop_table("chatwoot_calls")
    op.drop_table("chatwoot_seen")
    op.drop_table("chatwoot_conversations")
    op.drop_table("chatwoot_connections")

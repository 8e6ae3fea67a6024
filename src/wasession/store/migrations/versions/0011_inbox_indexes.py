"""inbox: an index for the chat list's default order (window closing soonest, active first), and
chat_reads (when each dashboard user last opened each chat, for unread markers)

Revision ID: 0011_inbox_indexes
Revises: 0009_relay_targets
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasession.store.db import UTCDateTime

revision = "0011_inbox_indexes"
down_revision = "0009_relay_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_status_window", "sessions", ["status", "window_closes_at", "id"], unique=False)
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "chat_reads",
        sa.Column("user_id", id_type, nullable=False),
        sa.Column("session_id", id_type, nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_reads_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_chat_reads_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "session_id", name=op.f("pk_chat_reads")),
    )
    op.create_index("ix_chat_reads_session", "chat_reads", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_chat_reads_session", table_name="chat_reads")
    op.drop_table("chat_reads")
    op.drop_index("ix_sessions_status_window", table_name="sessions")

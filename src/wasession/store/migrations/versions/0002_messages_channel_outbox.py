"""outbox index per channel

The sender asks, for each channel, whether it has messages ready and claims them in order; without
this index both read every pending message of every channel on each claim (B4).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_channel_outbox", "messages", ["channel_id", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_channel_outbox", table_name="messages")

"""sessions: the reminder ladder's current step and the snooze (session policy v2, issue 13)

`reminder_step` is the ladder step that `reminder_state` and `reminder_due_at` are about; existing
sessions have a one-step ladder, so 1. `snoozed_until` is when a snooze ends (NULL: never snoozed,
or the customer wrote since); once past, it is where the timeout counts from again.

Revision ID: 0007_policy_v2
Revises: 0006_pricing_usage
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasession.store.db import UTCDateTime

revision = "0007_policy_v2"
down_revision = "0006_pricing_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("reminder_step", sa.Integer(), nullable=False, server_default=sa.text("1")))
        batch.add_column(sa.Column("snoozed_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("snoozed_until")
        batch.drop_column("reminder_step")

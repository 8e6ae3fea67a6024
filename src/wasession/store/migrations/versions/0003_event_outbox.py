"""event outbox: deliveries built from their event, and event ids that never repeat

Event deliveries are now written in the transaction that adds the event (store/events.py), with no copy
of the body: it is built from the event row when it is sent, so `payload` may be NULL. On SQLite the
events table is rebuilt with AUTOINCREMENT, so deleting the newest events (a channel's deletion cascades
to them) can never hand their ids to new events; PostgreSQL sequences never go back, so nothing changes
there for the ids.

Revision ID: 0003_event_outbox
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_event_outbox"
down_revision = "0002"
branch_labels = None
depends_on = None

_SAVED = "_event_deliveries_0003"


def _rebuild_events(autoincrement: bool) -> None:
    # Rebuilding drops the old table, and with foreign keys on that deletes its rows' deliveries through
    # ON DELETE CASCADE (the pragma cannot be turned off inside the migration's transaction): keep a copy.
    op.execute(f"CREATE TEMP TABLE {_SAVED} AS SELECT * FROM event_deliveries")
    with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    op.execute("DELETE FROM event_deliveries")
    op.execute(f"INSERT INTO event_deliveries SELECT * FROM {_SAVED}")
    op.execute(f"DROP TABLE {_SAVED}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_events(autoincrement=True)
    with op.batch_alter_table("event_deliveries") as batch_op:
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    raise NotImplementedError("0003_event_outbox is not reversible: delivery rows no longer carry a body")

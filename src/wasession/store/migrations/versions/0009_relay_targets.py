"""webhook relay: forward targets following the webhook log, and their delivery attempts

Targets follow webhook_log by id, so on SQLite the log is rebuilt with AUTOINCREMENT: pruning the
newest bodies must never hand their ids to new ones (a target past them would skip the new bodies).
PostgreSQL sequences never go back.

Revision ID: 0009_relay_targets
Revises: 0007_policy_v2
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasession.store.db import UTCDateTime

revision = "0009_relay_targets"
down_revision = "0007_policy_v2"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuild_log(autoincrement: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "webhook_log", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild_log(True)
    op.create_table(
        "relay_targets",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("channel_id", Id, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("cursor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_relay_targets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_relay_targets_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_targets")),
    )
    op.create_index("ix_relay_targets_channel", "relay_targets", ["channel_id", "id"], unique=False)
    op.create_table(
        "relay_deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("target_id", Id, nullable=False),
        sa.Column("log_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["relay_targets.id"],
            name=op.f("fk_relay_deliveries_target_id_relay_targets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_deliveries")),
    )
    op.create_index("ix_relay_deliveries_target", "relay_deliveries", ["target_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_relay_deliveries_target", table_name="relay_deliveries")
    op.drop_table("relay_deliveries")
    op.drop_index("ix_relay_targets_channel", table_name="relay_targets")
    op.drop_table("relay_targets")
    _rebuild_log(False)

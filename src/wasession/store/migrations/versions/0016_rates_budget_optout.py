"""money and marketing (issue 26): each workspace's rate card, and each contact's marketing opt-out and
deferral

Revision ID: 0016_rates_budget_optout
Revises: 0014_unrouted_webhooks
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0016_rates_budget_optout"
down_revision = "0014_unrouted_webhooks"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("updated_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_rate_cards_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_rate_cards")),
    )
    op.create_table(
        "contact_marketing",
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("opted_out_at", wasession.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opt_out_source", sa.String(length=32), nullable=True),
        sa.Column("deferred_until", wasession.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", wasession.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_marketing_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_marketing")),
    )


def downgrade() -> None:
    op.drop_table("contact_marketing")
    op.drop_table("rate_cards")

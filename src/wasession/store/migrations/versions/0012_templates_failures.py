"""message templates: each channel's WhatsApp Business Account id and its cached approved templates

Revision ID: 0012_templates_failures
Revises: 0011_inbox_indexes
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0012_templates_failures"
down_revision = "0011_inbox_indexes"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "template_sources",
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", wasession.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_template_sources_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_template_sources")),
    )
    op.create_table(
        "message_templates",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_message_templates_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint(
            "channel_id", "name", "language", name=op.f("uq_message_templates_channel_id_name_language")
        ),
    )


def downgrade() -> None:
    op.drop_table("message_templates")
    op.drop_table("template_sources")

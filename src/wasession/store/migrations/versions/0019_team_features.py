"""a team's inbox (issue 23): chat assignments, private notes and canned replies

Revision ID: 0019_team_features
Revises: 0018_team_inbox
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import wasession.store.db

revision = "0019_team_features"
down_revision = "0018_team_inbox"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = wasession.store.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_assignments",
        sa.Column("session_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("assigned_at", _AT, nullable=False),
        sa.Column("assigned_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_assignments_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_session_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_assignments")),
    )
    op.create_index("ix_session_assignments_user", "session_assignments", ["user_id"], unique=False)
    op.create_table(
        "session_notes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("session_id", _ID, nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_notes_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_notes")),
    )
    op.create_index("ix_session_notes_session", "session_notes", ["session_id", "id"], unique=False)
    op.create_table(
        "canned_replies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_canned_replies_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_canned_replies_workspace_id_name")),
    )


def downgrade() -> None:
    op.drop_table("canned_replies")
    op.drop_index("ix_session_notes_session", table_name="session_notes")
    op.drop_table("session_notes")
    op.drop_index("ix_session_assignments_user", table_name="session_assignments")
    op.drop_table("session_assignments")

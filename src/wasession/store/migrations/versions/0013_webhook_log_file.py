"""webhook log: a `kind` per body (customer messages are applied ahead of statuses); on SQLite the
log moves to a file of its own beside the database (`<name>-webhooks.sqlite3`, issue 21)

SQLite has one writer per file: with the log in the main file, the ack's group commit waited behind
every apply transaction. The rows are copied with their ids (relay targets follow them) and the
AUTOINCREMENT high-water mark, the log file is committed, and only then is the old table dropped:
a crash in between leaves both copies and a re-run copies nothing twice (INSERT OR IGNORE). The
table's shape in the log file is frozen here; `store/db.py` creates the same one on a fresh file.

Revision ID: 0013_webhook_log_file
Revises: 0012_templates_failures
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasession.store.db import UTCDateTime, log_file_path

revision = "0013_webhook_log_file"
down_revision = "0012_templates_failures"
branch_labels = None
depends_on = None

_COPY = 2000  # rows per copied chunk: bodies may be large
_COLUMNS = "id, received_at, body, processed_at, signature, body_sha256, outcome, unroutable, failed"  # 0012's columns


def _log_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "webhook_log",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("unroutable", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("kind", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Index("ix_webhook_log_unprocessed", "processed_at", "kind", "id"),
        sa.Index("ix_webhook_log_unroutable", "unroutable", "id"),
        sqlite_autoincrement=True,
    )


def _log_engine() -> sa.Engine:
    main = op.get_bind().engine.url.database
    assert main, "an SQLite database in a file (in-memory SQLite is refused by store/db.py)"
    engine = sa.create_engine(f"sqlite:///{log_file_path(main)}")
    metadata = sa.MetaData(
        naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s"}
    )
    _log_table(metadata).create(engine, checkfirst=True)
    return engine


def _sequence(conn: sa.Connection) -> int:
    found = conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'webhook_log'")).scalar()
    return int(found or 0)


def _set_sequence(conn: sa.Connection, value: int) -> None:
    updated = conn.execute(
        sa.text("UPDATE sqlite_sequence SET seq = max(seq, :v) WHERE name = 'webhook_log'"), {"v": value}
    )
    if updated.rowcount == 0:
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('webhook_log', :v)"), {"v": value})


def _copy(source: sa.Connection, target: sa.Connection) -> None:
    after = 0
    while True:
        rows = source.execute(
            sa.text(f"SELECT {_COLUMNS} FROM webhook_log WHERE id > :after ORDER BY id LIMIT {_COPY}"), {"after": after}
        ).all()
        if not rows:
            return
        marks = ", ".join(f":{name.strip()}" for name in _COLUMNS.split(","))
        target.execute(
            sa.text(f"INSERT OR IGNORE INTO webhook_log ({_COLUMNS}) VALUES ({marks})"),
            [dict(r._mapping) for r in rows],
        )
        after = int(rows[-1][0])


def _move(main: sa.Connection, *, to_log: bool) -> None:
    """Copy every row and the AUTOINCREMENT mark between the main database and the log file; the
    log file's side commits here, the main database's with the migration."""
    engine = _log_engine()
    try:
        with engine.begin() as log:
            source, target = (main, log) if to_log else (log, main)
            _copy(source, target)
            _set_sequence(target, _sequence(source))
    finally:
        engine.dispose()


def upgrade() -> None:
    main = op.get_bind()
    if main.dialect.name != "sqlite":
        op.add_column("webhook_log", sa.Column("kind", sa.Integer(), server_default=sa.text("0"), nullable=False))
        op.drop_index("ix_webhook_log_unprocessed", table_name="webhook_log")
        op.create_index("ix_webhook_log_unprocessed", "webhook_log", ["processed_at", "kind", "id"])
        return
    _move(main, to_log=True)
    op.drop_index("ix_webhook_log_unprocessed", table_name="webhook_log")
    op.drop_index("ix_webhook_log_unroutable", table_name="webhook_log")
    op.drop_table("webhook_log")


def downgrade() -> None:
    main = op.get_bind()
    if main.dialect.name != "sqlite":
        op.drop_index("ix_webhook_log_unprocessed", table_name="webhook_log")
        op.create_index("ix_webhook_log_unprocessed", "webhook_log", ["processed_at", "id"])
        op.drop_column("webhook_log", "kind")
        return
    op.create_table(
        "webhook_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("unroutable", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_log")),
        sa.UniqueConstraint("body_sha256", name=op.f("uq_webhook_log_body_sha256")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_log_unprocessed", "webhook_log", ["processed_at", "id"])
    op.create_index("ix_webhook_log_unroutable", "webhook_log", ["unroutable", "id"])
    _move(main, to_log=False)
    # The log file keeps its rows: deleting them before this transaction commits could lose them.
    # Remove `<name>-webhooks.sqlite3` by hand once the downgraded database is checked.

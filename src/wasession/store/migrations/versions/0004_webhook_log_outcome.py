"""webhook log: structured outcome, unroutable and failed flags, signature, body hash

The outcome was a line like "messages=1 opened=1 unroutable=123,456" that admin queries matched
with LIKE; it becomes a JSON object with two indexed flags beside it. Existing lines are parsed
here, once (the only place that reads the old form). The body hash makes a replay of captured
bytes recognisable; of rows already stored twice, the oldest keeps the hash.

Revision ID: 0004_webhook_log_outcome
Revises: 0003_event_outbox
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_webhook_log_outcome"
down_revision = "0003_event_outbox"
branch_labels = None
depends_on = None

_COUNTS = ("messages", "opened", "duplicates", "statuses", "others", "groups")
_BATCH = 1000


def _parse_legacy(line: str | None) -> dict[str, Any] | None:
    if line is None:
        return None
    data: dict[str, Any] = {k: 0 for k in _COUNTS}
    data.update(unroutable=[], refused=[], error=None)
    if line.startswith("error: "):
        data["error"] = line[len("error: ") :]
        return data
    for part in line.split():
        key, _, value = part.partition("=")
        if key in _COUNTS and value.isdigit():
            data[key] = int(value)
        elif key == "unroutable":
            data["unroutable"] = sorted({p for p in value.split(",") if p})
    return data


def _legacy_line(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    if data.get("error"):
        return f"error: {data['error']}"
    parts = [f"{k}={int(data.get(k) or 0)}" for k in _COUNTS if k != "groups" or data.get(k)]
    if data.get("unroutable"):
        parts.append("unroutable=" + ",".join(data["unroutable"]))
    return " ".join(parts)


def upgrade() -> None:
    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outcome_data", sa.JSON(), nullable=True))
        for flag in ("unroutable", "failed"):
            batch_op.add_column(sa.Column(flag, sa.Boolean(), server_default=sa.text("false"), nullable=False))

    log = sa.table(
        "webhook_log",
        sa.column("id", sa.Integer()),
        sa.column("body", sa.LargeBinary()),
        sa.column("outcome", sa.Text()),
        sa.column("body_sha256", sa.String()),
        sa.column("outcome_data", sa.JSON()),
        sa.column("unroutable", sa.Boolean()),
        sa.column("failed", sa.Boolean()),
    )
    conn = op.get_bind()
    seen: set[str] = set()
    after = 0
    while True:
        rows = conn.execute(
            sa.select(log.c.id, log.c.body, log.c.outcome).where(log.c.id > after).order_by(log.c.id).limit(_BATCH)
        ).all()
        for row_id, body, line in rows:
            digest = hashlib.sha256(bytes(body)).hexdigest()
            data = _parse_legacy(line)
            conn.execute(
                sa.update(log)
                .where(log.c.id == row_id)
                .values(
                    body_sha256=None if digest in seen else digest,
                    outcome_data=data,
                    unroutable=bool(data and data["unroutable"]),
                    failed=bool(data and data["error"]),
                )
            )
            seen.add(digest)
        if len(rows) < _BATCH:
            break
        after = rows[-1][0]

    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.drop_column("outcome")
    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.alter_column(
            "outcome_data", new_column_name="outcome", existing_type=sa.JSON(), existing_nullable=True
        )
        batch_op.create_unique_constraint(op.f("uq_webhook_log_body_sha256"), ["body_sha256"])
        batch_op.create_index("ix_webhook_log_unroutable", ["unroutable", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_line", sa.Text(), nullable=True))
    log = sa.table(
        "webhook_log",
        sa.column("id", sa.Integer()),
        sa.column("outcome", sa.JSON()),
        sa.column("outcome_line", sa.Text()),
    )
    conn = op.get_bind()
    for row_id, data in conn.execute(sa.select(log.c.id, log.c.outcome)).all():
        conn.execute(sa.update(log).where(log.c.id == row_id).values(outcome_line=_legacy_line(data)))
    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_log_unroutable")
        batch_op.drop_constraint(op.f("uq_webhook_log_body_sha256"), type_="unique")
        batch_op.drop_column("failed")
        batch_op.drop_column("unroutable")
        batch_op.drop_column("outcome")
        batch_op.drop_column("body_sha256")
        batch_op.drop_column("signature")
    with op.batch_alter_table("webhook_log", schema=None) as batch_op:
        batch_op.alter_column(
            "outcome_line", new_column_name="outcome", existing_type=sa.Text(), existing_nullable=True
        )

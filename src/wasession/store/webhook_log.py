"""Raw webhook bodies, stored before the 2xx because Meta has no API to fetch past webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from wasession.store.schema import webhook_log

# Built once: every webhook runs these, and building a statement costs more than executing it (issue 6).
_APPEND = insert(webhook_log)
_MARK = update(webhook_log).where(webhook_log.c.id == bindparam("b_id"))
_REMOVE = delete(webhook_log).where(webhook_log.c.id == bindparam("b_id"))


def append(conn: Connection, body: bytes, received_at: datetime) -> int:
    result = conn.execute(_APPEND, {"body": body, "received_at": received_at})
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def append_processed(conn: Connection, body: bytes, received_at: datetime, outcome: str) -> int:
    """Append a body already applied in this transaction, with its outcome: one statement."""
    result = conn.execute(
        _APPEND, {"body": body, "received_at": received_at, "processed_at": received_at, "outcome": outcome}
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def mark_processed(conn: Connection, log_id: int, at: datetime, outcome: str) -> None:
    conn.execute(_MARK, {"b_id": log_id, "processed_at": at, "outcome": outcome})


def remove(conn: Connection, log_id: int) -> None:
    conn.execute(_REMOVE, {"b_id": log_id})


def unprocessed(conn: Connection, limit: int = 1000) -> list[tuple[int, bytes]]:
    rows = conn.execute(
        select(webhook_log.c.id, webhook_log.c.body)
        .where(webhook_log.c.processed_at.is_(None))
        .order_by(webhook_log.c.id)
        .limit(limit)
    ).all()
    return [(int(r[0]), bytes(r[1])) for r in rows]

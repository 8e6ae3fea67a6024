"""Raw webhook bodies, stored before the 2xx because Meta has no API to fetch past webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from wasession.store.schema import webhook_log


def append(conn: Connection, body: bytes, received_at: datetime) -> int:
    result = conn.execute(insert(webhook_log).values(body=body, received_at=received_at))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def mark_processed(conn: Connection, log_id: int, at: datetime, outcome: str) -> None:
    conn.execute(
        update(webhook_log).where(webhook_log.c.id == log_id).values(processed_at=at, outcome=outcome)
    )


def unprocessed(conn: Connection, limit: int = 1000) -> list[tuple[int, bytes]]:
    rows = conn.execute(
        select(webhook_log.c.id, webhook_log.c.body)
        .where(webhook_log.c.processed_at.is_(None))
        .order_by(webhook_log.c.id)
        .limit(limit)
    ).all()
    return [(int(r[0]), bytes(r[1])) for r in rows]

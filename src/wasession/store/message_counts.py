"""How many messages are stored: for tests and tools that check nothing was queued."""

from __future__ import annotations

from sqlalchemy import func, select

from wasession.store.db import Connection
from wasession.store.schema import messages


def count(conn: Connection, *, direction: str | None = None) -> int:
    query = select(func.count()).select_from(messages)
    if direction is not None:
        query = query.where(messages.c.direction == direction)
    return int(conn.execute(query).scalar_one())

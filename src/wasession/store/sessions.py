"""Session rows and the due-time queries the engine runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from wasession.store.schema import sessions

# Built once: ingest and the engine run these per message or per due session, and building a
# statement costs more than executing it (issue 6).
_ACTIVE_FOR = (
    select(sessions)
    .where(
        sessions.c.channel_id == bindparam("b_channel_id"),
        sessions.c.contact_id == bindparam("b_contact_id"),
        sessions.c.status == "active",
    )
    .with_for_update()
)
_LATEST_FOR = (
    select(sessions)
    .where(sessions.c.channel_id == bindparam("b_channel_id"), sessions.c.contact_id == bindparam("b_contact_id"))
    .order_by(sessions.c.id.desc())
    .limit(1)
)
_INSERT = insert(sessions)
_UPDATE = update(sessions).where(sessions.c.id == bindparam("b_session_id"))


@dataclass(frozen=True)
class SessionRow:
    id: int
    channel_id: int
    contact_id: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_customer_at: datetime
    last_message_at: datetime
    awaiting: str
    window_closes_at: datetime
    window_closed_early_at: datetime | None
    eligible_at: datetime
    closes_at: datetime
    reminder_state: str
    reminder_due_at: datetime | None
    reminder_reason: str | None
    due_at: datetime | None
    due_kind: str | None
    claimed_until: datetime | None
    claimed_by: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def window_open(self, now: datetime) -> bool:
        return self.active and now < self.window_closes_at

    def eligible(self, now: datetime) -> bool:
        return self.active and now >= self.eligible_at


def _session(row: Any) -> SessionRow:
    return SessionRow(**dict(row))


def get(conn: Connection, session_id: int, *, for_update: bool = False) -> SessionRow | None:
    query = select(sessions).where(sessions.c.id == session_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _session(row) if row else None


def active_for(conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
    row = conn.execute(_ACTIVE_FOR, {"b_channel_id": channel_id, "b_contact_id": contact_id}).mappings().first()
    return _session(row) if row else None


def latest_for(conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
    row = conn.execute(_LATEST_FOR, {"b_channel_id": channel_id, "b_contact_id": contact_id}).mappings().first()
    return _session(row) if row else None


def insert_session(conn: Connection, **values: Any) -> int:
    return int(conn.execute(_INSERT, values).inserted_primary_key[0])  # type: ignore[index]


def update_session(conn: Connection, session_id: int, **values: Any) -> None:
    conn.execute(_UPDATE, {"b_session_id": session_id, **values})


def claim_due(conn: Connection, now: datetime, limit: int) -> list[SessionRow]:
    """Active sessions whose next action is due, earliest first, locked for this transaction.

    On PostgreSQL SKIP LOCKED lets any number of workers take disjoint batches; SQLite has a single
    writer (BEGIN IMMEDIATE), so the lock clause is simply not rendered there.
    """
    rows = conn.execute(
        select(sessions)
        .where(sessions.c.due_at <= now)
        .order_by(sessions.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).mappings()
    return [_session(r) for r in rows]


def next_due_at(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(select(func.min(sessions.c.due_at))).scalar()
    return value


def active_in_channel(conn: Connection, channel_id: int) -> list[SessionRow]:
    rows = conn.execute(
        select(sessions)
        .where(sessions.c.channel_id == channel_id, sessions.c.status == "active")
        .order_by(sessions.c.id)
    ).mappings()
    return [_session(r) for r in rows]


def in_channel(conn: Connection, channel_id: int) -> list[SessionRow]:
    rows = conn.execute(
        select(sessions).where(sessions.c.channel_id == channel_id).order_by(sessions.c.id)
    ).mappings()
    return [_session(r) for r in rows]


def active_ids_in_channel(
    conn: Connection, channel_id: int, *, after_id: int, limit: int
) -> list[SessionRow]:
    rows = conn.execute(
        select(sessions)
        .where(sessions.c.channel_id == channel_id, sessions.c.status == "active", sessions.c.id > after_id)
        .order_by(sessions.c.id)
        .limit(limit)
        .with_for_update()
    ).mappings()
    return [_session(r) for r in rows]

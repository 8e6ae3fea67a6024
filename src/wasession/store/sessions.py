"""Session rows and the due-time queries the engine runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, literal_column, select, update

from wasession.store.schema import sessions

# Built once: ingest and the engine run these per message or per due session, and building a
# statement costs more than executing it (issue 6).
_ACTIVE_FOR = (
    select(sessions)
    .where(
        sessions.c.channel_id == bindparam("b_channel_id"),
        sessions.c.contact_id == bindparam("b_contact_id"),
        # A literal, not a bound value: SQLite re-prepares a statement on every run when a bound
        # value decides whether a partial index (uq_sessions_one_active) applies (82 -> 11 us).
        sessions.c.status == literal_column("'active'"),
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
_UPDATE_IDS = update(sessions).where(sessions.c.id.in_(bindparam("b_session_ids", expanding=True)))
_GET = select(sessions).where(sessions.c.id == bindparam("b_session_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
_CLAIM_DUE = (
    select(sessions)
    .where(sessions.c.due_at <= bindparam("b_now"))
    .order_by(sessions.c.due_at)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_NEXT_DUE_AT = select(func.min(sessions.c.due_at))
# Ids per UPDATE … WHERE id IN (…): well below SQLite's and PostgreSQL's limits on bound parameters.
IDS_PER_UPDATE = 1000


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


# `select(sessions)` returns the columns in table order; SessionRow declares its fields in the same
# order, so a row converts positionally (the engine converts every claimed row).
if tuple(f.name for f in fields(SessionRow)) != tuple(sessions.c.keys()):
    raise RuntimeError("SessionRow's fields must be the sessions table's columns, in the same order")


def _session(row: Any) -> SessionRow:
    return SessionRow(**dict(row))


def _sessions(rows: Iterable[Sequence[Any]]) -> list[SessionRow]:
    """Rows of `select(sessions)` (plain rows, not mappings) as SessionRows."""
    return [SessionRow(*r) for r in rows]


def get(conn: Connection, session_id: int, *, for_update: bool = False) -> SessionRow | None:
    row = conn.execute(_GET_FOR_UPDATE if for_update else _GET, {"b_session_id": session_id}).first()
    return SessionRow(*row) if row else None


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


def update_sessions(conn: Connection, updates: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    """Each (session id, values) as `update_session` would write it, one executemany per set of columns.

    Each session id at most once (the updates are not applied in the order given)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for session_id, values in updates:
        by_columns.setdefault(tuple(values), []).append({"b_session_id": session_id, **values})
    for params in by_columns.values():
        conn.execute(_UPDATE, params)


def update_sessions_alike(conn: Connection, session_ids: Sequence[int], **values: Any) -> None:
    """The same values on every listed session: UPDATE … WHERE id IN (…)."""
    for i in range(0, len(session_ids), IDS_PER_UPDATE):
        conn.execute(_UPDATE_IDS, {"b_session_ids": list(session_ids[i : i + IDS_PER_UPDATE]), **values})


def claim_due(conn: Connection, now: datetime, limit: int) -> list[SessionRow]:
    """Active sessions whose next action is due, earliest first, locked for this transaction.

    On PostgreSQL SKIP LOCKED lets any number of workers take disjoint batches; SQLite has a single
    writer (BEGIN IMMEDIATE), so the lock clause is simply not rendered there.
    """
    return _sessions(conn.execute(_CLAIM_DUE, {"b_now": now, "b_limit": limit}))


def next_due_at(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(_NEXT_DUE_AT).scalar()
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

"""Session rows and the due-time queries the engine runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, literal_column, select, update
from typing_extensions import Unpack

from wasession.domain.states import Awaiting, CloseReason, DueKind, ReminderState, SessionStatus
from wasession.domain.transitions import SessionFields
from wasession.store.db import executemany, in_lists
from wasession.store.schema import require_column_order, sessions

# Built once: ingest and the engine run these per message or per due session, and building a
# statement costs more than executing it (issue 6).

# Every lock on a session is FOR NO KEY UPDATE (key_share=True): it excludes the other lockers but not
# the key-share lock a transaction writing an event or message for the session holds through its
# foreign key, which a plain FOR UPDATE would wait for, or skip (docs/decisions/0004).
_ACTIVE_FOR = (
    select(sessions)
    .where(
        sessions.c.channel_id == bindparam("b_channel_id"),
        sessions.c.contact_id == bindparam("b_contact_id"),
        # A literal, not a bound value: SQLite re-prepares a statement on every run when a bound
        # value decides whether a partial index (uq_sessions_one_active) applies (82 -> 11 us).
        sessions.c.status == literal_column(f"'{SessionStatus.ACTIVE}'"),
    )
    .with_for_update(key_share=True)
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
_GET_FOR_UPDATE = _GET.with_for_update(key_share=True)
# Locked in id order: two batches on PostgreSQL locking the same sessions in one statement queue
# behind each other instead of deadlocking (a later statement of a batch may still lock out of order).
_GET_MANY = (
    select(sessions)
    .where(sessions.c.id.in_(bindparam("b_session_ids", expanding=True)))
    .order_by(sessions.c.id)
    .with_for_update(key_share=True)
)
_ACTIVE_FOR_CONTACTS = (
    select(sessions)
    .where(
        sessions.c.contact_id.in_(bindparam("b_contact_ids", expanding=True)),
        sessions.c.status == literal_column(f"'{SessionStatus.ACTIVE}'"),
    )
    .order_by(sessions.c.id)
    .with_for_update(key_share=True)
)
_CLAIM_DUE = (
    select(sessions)
    .where(sessions.c.due_at <= bindparam("b_now"))
    .order_by(sessions.c.due_at)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True, key_share=True)
)
_NEXT_DUE_AT = select(func.min(sessions.c.due_at))


@dataclass(frozen=True)
class SessionRow:
    id: int
    channel_id: int
    contact_id: int
    status: SessionStatus
    opened_at: datetime
    closed_at: datetime | None
    close_reason: CloseReason | None
    last_customer_at: datetime
    last_message_at: datetime
    awaiting: Awaiting
    window_closes_at: datetime
    window_closed_early_at: datetime | None
    eligible_at: datetime
    closes_at: datetime
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    reminder_reason: str | None
    due_at: datetime | None
    due_kind: DueKind | None
    claimed_until: datetime | None
    claimed_by: str | None
    reminder_step: int
    snoozed_until: datetime | None

    @property
    def active(self) -> bool:
        return self.status == SessionStatus.ACTIVE

    def window_open(self, now: datetime) -> bool:
        return service_window_open(self.status, self.window_closes_at, now)

    def eligible(self, now: datetime) -> bool:
        return self.active and now >= self.eligible_at


def service_window_open(status: SessionStatus, window_closes_at: datetime, now: datetime) -> bool:
    """Whether an agent may still write freely: the session is active and its window has not closed."""
    return status == SessionStatus.ACTIVE and now < window_closes_at


# The columns an update may set: mypy checks every keyword given to the update functions.
SessionUpdate = SessionFields


class SessionInsert(SessionFields, total=False):
    """A new session row: `SessionUpdate`'s columns plus the ones fixed at opening."""

    channel_id: int
    contact_id: int
    opened_at: datetime


# `select(sessions)` returns the columns in table order; SessionRow declares its fields in the same
# order, so a row converts positionally (the engine converts every claimed row).
require_column_order(SessionRow, sessions)
if SessionInsert.__required_keys__ | SessionInsert.__optional_keys__ != set(sessions.c.keys()) - {"id"}:
    raise RuntimeError("SessionInsert's keys must be the sessions table's columns but id")

# Positions of the state columns, which `_row` turns into the lifecycle's enums.
_NAMES = [f.name for f in fields(SessionRow)]
_STATUS = _NAMES.index("status")
_CLOSE_REASON = _NAMES.index("close_reason")
_AWAITING = _NAMES.index("awaiting")
_REMINDER_STATE = _NAMES.index("reminder_state")
_DUE_KIND = _NAMES.index("due_kind")
_STATUSES = {str(m.value): m for m in SessionStatus}
_CLOSE_REASONS = {str(m.value): m for m in CloseReason}
_AWAITINGS = {str(m.value): m for m in Awaiting}
_REMINDER_STATES = {str(m.value): m for m in ReminderState}
_DUE_KINDS = {str(m.value): m for m in DueKind}


def session_from_values(r: Sequence[Any]) -> SessionRow:
    """A `select(sessions)` row as a SessionRow, its states as the lifecycle's enums."""
    values = list(r)
    # Dict lookups, not Enum(value) calls: the engine and ingest convert thousands of rows a batch.
    values[_STATUS] = _STATUSES[values[_STATUS]]
    if values[_CLOSE_REASON] is not None:
        values[_CLOSE_REASON] = _CLOSE_REASONS[values[_CLOSE_REASON]]
    values[_AWAITING] = _AWAITINGS[values[_AWAITING]]
    values[_REMINDER_STATE] = _REMINDER_STATES[values[_REMINDER_STATE]]
    if values[_DUE_KIND] is not None:
        values[_DUE_KIND] = _DUE_KINDS[values[_DUE_KIND]]
    return SessionRow(*values)


def _session(row: Any) -> SessionRow:
    return session_from_values(tuple(row.values()))


def _sessions(rows: Iterable[Sequence[Any]]) -> list[SessionRow]:
    """Rows of `select(sessions)` (plain rows, not mappings) as SessionRows."""
    return [session_from_values(r) for r in rows]


def get(conn: Connection, session_id: int, *, for_update: bool = False) -> SessionRow | None:
    row = conn.execute(_GET_FOR_UPDATE if for_update else _GET, {"b_session_id": session_id}).first()
    return session_from_values(row) if row else None


def active_for(conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
    row = conn.execute(_ACTIVE_FOR, {"b_channel_id": channel_id, "b_contact_id": contact_id}).mappings().first()
    return _session(row) if row else None


def get_many(conn: Connection, session_ids: Iterable[int]) -> list[SessionRow]:
    """The listed sessions, locked for this transaction, one query per `VALUES_PER_IN_LIST` ids."""
    return _in_chunks(conn, _GET_MANY, "b_session_ids", session_ids)


def active_for_contacts(conn: Connection, contact_ids: Iterable[int]) -> list[SessionRow]:
    """The active sessions of the listed contacts, in every channel, locked for this transaction."""
    return _in_chunks(conn, _ACTIVE_FOR_CONTACTS, "b_contact_ids", contact_ids)


def _in_chunks(conn: Connection, query: Select[Any], name: str, ids: Iterable[int]) -> list[SessionRow]:
    wanted = sorted(set(ids))
    found: list[SessionRow] = []
    for part in in_lists(wanted):
        found += _sessions(conn.execute(query, {name: part}))
    return found


def latest_for(conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
    row = conn.execute(_LATEST_FOR, {"b_channel_id": channel_id, "b_contact_id": contact_id}).mappings().first()
    return _session(row) if row else None


def insert_session(conn: Connection, **values: Unpack[SessionInsert]) -> int:
    return int(conn.execute(_INSERT, dict(values)).inserted_primary_key[0])  # type: ignore[index]


def insert_rows(conn: Connection, rows: Sequence[SessionRow]) -> list[int]:
    """Insert these sessions (their `id` ignored) in one statement; their ids, in the order given.
    Two of them never share a channel and contact: only one session of a contact is active."""
    values = [{f: getattr(row, f) for f in _INSERT_COLUMNS} for row in rows]
    if len(values) <= 1:
        return [int(conn.execute(_INSERT, v).inserted_primary_key[0]) for v in values]  # type: ignore[index]
    # Matched back by channel and contact: asking for the rows in the order given would make
    # SQLAlchemy send one INSERT per row on SQLite.
    query = _INSERT.returning(sessions.c.id, sessions.c.channel_id, sessions.c.contact_id)
    ids = {(channel_id, contact_id): int(i) for i, channel_id, contact_id in conn.execute(query, values)}
    return [ids[(v["channel_id"], v["contact_id"])] for v in values]


_INSERT_COLUMNS = [f.name for f in fields(SessionRow) if f.name != "id"]


def update_session(conn: Connection, session_id: int, **values: Unpack[SessionUpdate]) -> None:
    conn.execute(_UPDATE, {"b_session_id": session_id, **values})


def update_sessions(conn: Connection, updates: Iterable[tuple[int, SessionUpdate]]) -> None:
    """Each (session id, values) as `update_session` would write it, one executemany per set of columns.

    Each session id at most once (the updates are not applied in the order given)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for session_id, values in updates:
        by_columns.setdefault(tuple(values), []).append({"b_session_id": session_id, **values})
    for params in by_columns.values():
        executemany(conn, _UPDATE, params)


def update_sessions_alike(conn: Connection, session_ids: Sequence[int], **values: Unpack[SessionUpdate]) -> None:
    """The same values on every listed session: UPDATE … WHERE id IN (…)."""
    for part in in_lists(session_ids):
        conn.execute(_UPDATE_IDS, {"b_session_ids": part, **values})


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
        .where(sessions.c.channel_id == channel_id, sessions.c.status == SessionStatus.ACTIVE)
        .order_by(sessions.c.id)
    ).mappings()
    return [_session(r) for r in rows]


def in_channel(conn: Connection, channel_id: int) -> list[SessionRow]:
    rows = conn.execute(select(sessions).where(sessions.c.channel_id == channel_id).order_by(sessions.c.id)).mappings()
    return [_session(r) for r in rows]


def active_ids_in_channel(conn: Connection, channel_id: int, *, after_id: int, limit: int) -> list[SessionRow]:
    rows = conn.execute(
        select(sessions)
        .where(sessions.c.channel_id == channel_id, sessions.c.status == SessionStatus.ACTIVE, sessions.c.id > after_id)
        .order_by(sessions.c.id)
        .limit(limit)
        .with_for_update(key_share=True)
    ).mappings()
    return [_session(r) for r in rows]

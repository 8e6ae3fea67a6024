"""Chatwoot connections (issue 22), the conversation map, what was already taken from Chatwoot, and the
calls still to make to it.

A connection follows the `events` table by id (`event_cursor`), as a relay target follows the webhook
log: the commit that records a closure is the one that makes its resolve due, so a crash between them
loses nothing. The secrets (API token, webhook secret) are Fernet-encrypted like a channel's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from wasession.store.schema import (
    chatwoot_calls,
    chatwoot_connections,
    chatwoot_conversations,
    chatwoot_seen,
    events,
    messages,
)
from wasession.store.secrets import SecretBox

_C = chatwoot_connections


@dataclass(frozen=True)
class ChatwootConnection:
    id: int
    workspace_id: int
    channel_id: int
    url: str
    account_id: int
    inbox_id: int
    inbox_phone: str
    send_via: str
    paused: bool
    signed: bool  # it has a webhook secret: unsigned webhooks are refused
    event_cursor: int
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class ConnectionSecrets:
    api_token: str
    webhook_secret: str | None


@dataclass(frozen=True)
class Call:
    id: int
    connection_id: int
    session_id: int
    kind: str
    message_id: int | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class EventRow:
    id: int
    session_id: int | None
    type: str
    data: dict[str, Any]


_PUBLIC = [
    _C.c[n]
    for n in (
        "id",
        "workspace_id",
        "channel_id",
        "url",
        "account_id",
        "inbox_id",
        "inbox_phone",
        "send_via",
        "paused",
        "event_cursor",
        "last_error",
        "last_error_at",
        "created_at",
    )
]


def _select() -> Any:
    return select(*_PUBLIC, _C.c.webhook_secret_enc.is_not(None).label("signed"))


def _connection(row: Any) -> ChatwootConnection:
    values = dict(row)
    values["signed"] = bool(values["signed"])
    return ChatwootConnection(**values)


def newest_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def insert_connection(
    conn: Connection,
    box: SecretBox,
    *,
    workspace_id: int,
    channel_id: int,
    url: str,
    account_id: int,
    inbox_id: int,
    inbox_phone: str,
    api_token: str,
    webhook_secret: str | None,
    send_via: str,
    now: datetime,
) -> int:
    """A new connection follows the events recorded from now on."""
    result = conn.execute(
        insert(_C).values(
            workspace_id=workspace_id,
            channel_id=channel_id,
            url=url,
            account_id=account_id,
            inbox_id=inbox_id,
            inbox_phone=inbox_phone[:32],
            api_token_enc=box.encrypt(api_token),
            webhook_secret_enc=box.encrypt(webhook_secret) if webhook_secret else None,
            send_via=send_via,
            event_cursor=newest_event_id(conn),
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_connection(conn: Connection, connection_id: int) -> ChatwootConnection | None:
    row = conn.execute(_select().where(_C.c.id == connection_id)).mappings().first()
    return _connection(row) if row else None


def of_channel(conn: Connection, channel_id: int) -> ChatwootConnection | None:
    row = conn.execute(_select().where(_C.c.channel_id == channel_id)).mappings().first()
    return _connection(row) if row else None


def in_workspace(conn: Connection, workspace_id: int | None) -> list[ChatwootConnection]:
    """None: every workspace's."""
    query = _select() if workspace_id is None else _select().where(_C.c.workspace_id == workspace_id)
    rows = conn.execute(query.order_by(_C.c.id)).mappings()
    return [_connection(r) for r in rows]


def unpaused(conn: Connection) -> list[ChatwootConnection]:
    rows = conn.execute(_select().where(_C.c.paused.is_(False)).order_by(_C.c.id)).mappings()
    return [_connection(r) for r in rows]


def any_unpaused(conn: Connection) -> bool:
    return conn.execute(select(_C.c.id).where(_C.c.paused.is_(False)).limit(1)).first() is not None


def secrets_of(conn: Connection, box: SecretBox, connection_id: int) -> ConnectionSecrets:
    row = conn.execute(select(_C.c.api_token_enc, _C.c.webhook_secret_enc).where(_C.c.id == connection_id)).one()
    secret = box.decrypt(row.webhook_secret_enc) if row.webhook_secret_enc else None
    return ConnectionSecrets(box.decrypt(row.api_token_enc), secret)


def update_connection(conn: Connection, connection_id: int, **values: Any) -> None:
    conn.execute(update(_C).where(_C.c.id == connection_id).values(**values))


def delete_connection(conn: Connection, connection_id: int) -> None:
    conn.execute(delete(_C).where(_C.c.id == connection_id))


def record_error(conn: Connection, connection_id: int, error: str | None, now: datetime) -> None:
    conn.execute(
        update(_C).where(_C.c.id == connection_id).values(last_error=error, last_error_at=now if error else None)
    )


# -- the conversation map ------------------------------------------------------------------------


def remember_conversation(
    conn: Connection, connection_id: int, conversation_id: int, source_id: str, status: str | None, now: datetime
) -> None:
    t = chatwoot_conversations
    known = conn.execute(
        select(t.c.source_id).where(t.c.connection_id == connection_id, t.c.conversation_id == conversation_id)
    ).first()
    if known is None:
        _insert_ignore(
            conn,
            t,
            {
                "connection_id": connection_id,
                "conversation_id": conversation_id,
                "source_id": source_id,
                "status": status,
                "updated_at": now,
            },
        )
    else:
        conn.execute(
            update(t)
            .where(t.c.connection_id == connection_id, t.c.conversation_id == conversation_id)
            .values(source_id=source_id, status=status or t.c.status, updated_at=now)
        )


def conversation_for(conn: Connection, connection_id: int, source_ids: Iterable[str]) -> int | None:
    """The newest conversation known for the contact (any of its ids)."""
    t = chatwoot_conversations
    ids = [s for s in source_ids if s]
    if not ids:
        return None
    found = conn.execute(
        select(func.max(t.c.conversation_id)).where(t.c.connection_id == connection_id, t.c.source_id.in_(ids))
    ).scalar_one()
    return int(found) if found is not None else None


def source_of(conn: Connection, connection_id: int, conversation_id: int) -> str | None:
    t = chatwoot_conversations
    found = conn.execute(
        select(t.c.source_id).where(t.c.connection_id == connection_id, t.c.conversation_id == conversation_id)
    ).scalar_one_or_none()
    return str(found) if found is not None else None


# -- what was already taken ------------------------------------------------------------------------


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; whether it was new. One statement, so two processes racing
    on PostgreSQL cannot both win."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def first_sight(conn: Connection, connection_id: int, key: str, now: datetime) -> bool:
    """True the first time `key` is seen for the connection, False for a duplicate or a replay."""
    return _insert_ignore(conn, chatwoot_seen, {"connection_id": connection_id, "key": key[:200], "at": now})


# -- events to follow ---------------------------------------------------------------------------------


def events_after(conn: Connection, channel_id: int, cursor: int, limit: int) -> list[EventRow]:
    rows = conn.execute(
        select(events.c.id, events.c.session_id, events.c.type, events.c.data)
        .where(events.c.channel_id == channel_id, events.c.id > cursor)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [EventRow(r.id, r.session_id, r.type, dict(r.data or {})) for r in rows]


def move_cursor(conn: Connection, connection_id: int, old: int, new: int) -> bool:
    """Move the cursor from `old` to `new`; False when another process moved it first (on PostgreSQL
    `serve` and `worker` may follow the same connection): the caller rolls back what it added."""
    result = conn.execute(update(_C).where(_C.c.id == connection_id, _C.c.event_cursor == old).values(event_cursor=new))
    return bool(result.rowcount)


def has_events_after(conn: Connection, channel_id: int, cursor: int) -> bool:
    found = conn.execute(
        select(events.c.id).where(events.c.channel_id == channel_id, events.c.id > cursor).limit(1)
    ).first()
    return found is not None


# -- calls ----------------------------------------------------------------------------------------


_K = chatwoot_calls


def _call(row: Any) -> Call:
    return Call(
        row.id,
        row.connection_id,
        row.session_id,
        row.kind,
        row.message_id,
        row.state,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
    )


def add_call(
    conn: Connection,
    connection_id: int,
    session_id: int,
    kind: str,
    now: datetime,
    message_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """A call to make, from `not_before` (None: at once); an `attributes` call already pending for the
    session stands for this one too (it reads the session when it is made)."""
    if kind == "attributes":
        pending = conn.execute(
            select(_K.c.id).where(_K.c.session_id == session_id, _K.c.kind == kind, _K.c.state == "pending").limit(1)
        ).first()
        if pending is not None:
            return
    conn.execute(
        insert(_K).values(
            connection_id=connection_id,
            session_id=session_id,
            kind=kind,
            message_id=message_id,
            state="pending",
            next_attempt_at=not_before,
            created_at=now,
        )
    )


def due_calls(conn: Connection, connection_id: int, now: datetime, limit: int) -> list[Call]:
    rows = conn.execute(
        select(_K)
        .where(
            _K.c.connection_id == connection_id,
            _K.c.state == "pending",
            or_(_K.c.next_attempt_at.is_(None), _K.c.next_attempt_at <= now),
        )
        .order_by(_K.c.id)
        .limit(limit)
    )
    return [_call(r) for r in rows]


def next_call_at(conn: Connection) -> datetime | None:
    """The earliest pending call of an unpaused connection (None: nothing pending)."""
    found = conn.execute(
        select(func.min(func.coalesce(_K.c.next_attempt_at, _K.c.created_at)))
        .select_from(_K.join(_C, and_(_C.c.id == _K.c.connection_id, _C.c.paused.is_(False))))
        .where(_K.c.state == "pending")
    ).scalar_one_or_none()
    return found


def finish_call(conn: Connection, call_id: int, state: str, now: datetime, error: str | None = None) -> None:
    conn.execute(
        update(_K)
        .where(_K.c.id == call_id, _K.c.state.in_(("pending", "sending")))
        .values(state=state, done_at=now, last_error=error, attempts=_K.c.attempts + 1)
    )


def retry_call(conn: Connection, call_id: int, at: datetime, error: str, *, count: bool = True) -> None:
    """Due again at `at`; `count=False` for a call that only waited (its closing message, a send's outcome)."""
    conn.execute(
        update(_K)
        .where(_K.c.id == call_id, _K.c.state.in_(("pending", "sending")))
        .values(state="pending", next_attempt_at=at, last_error=error, attempts=_K.c.attempts + (1 if count else 0))
    )


def mark_sending(conn: Connection, call_id: int, now: datetime) -> bool:
    """Committed before a note's request leaves (`next_attempt_at` holds when); False if another process
    took it first."""
    result = conn.execute(
        update(_K).where(_K.c.id == call_id, _K.c.state == "pending").values(state="sending", next_attempt_at=now)
    )
    return bool(result.rowcount)


def unmark_sending(conn: Connection, call_id: int) -> None:
    conn.execute(update(_K).where(_K.c.id == call_id, _K.c.state == "sending").values(state="pending"))


def recover_sending(conn: Connection, before: datetime, now: datetime) -> int:
    """Calls left `sending` by a dead process (claimed before `before`): unknown, never made again."""
    result = conn.execute(
        update(_K)
        .where(_K.c.state == "sending", _K.c.next_attempt_at < before)
        .values(state="unknown", done_at=now, last_error="the process stopped while adding it: outcome unknown")
    )
    return int(result.rowcount)


def calls_of(conn: Connection, connection_id: int, limit: int = 50) -> list[Call]:
    rows = conn.execute(select(_K).where(_K.c.connection_id == connection_id).order_by(_K.c.id.desc()).limit(limit))
    return [_call(r) for r in rows]


def call_counts(conn: Connection, connection_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(_K.c.state, func.count()).where(_K.c.connection_id == connection_id).group_by(_K.c.state)
    )
    return {str(state): int(n) for state, n in rows}


def pending_closing(conn: Connection, session_id: int) -> bool:
    """Whether the session's closing message is still on its way (the resolve waits for it)."""
    found = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.session_id == session_id,
            messages.c.kind == "closing",
            messages.c.status.in_(("pending", "sending")),
        )
        .limit(1)
    ).first()
    return found is not None


def retry_failed(conn: Connection, connection_id: int) -> int:
    """Failed resolves and attribute updates due again from the start (both are safe to repeat); notes
    whose outcome is unknown stay as they are."""
    result = conn.execute(
        update(_K)
        .where(_K.c.connection_id == connection_id, _K.c.state == "failed", _K.c.kind.in_(("resolve", "attributes")))
        .values(state="pending", attempts=0, next_attempt_at=None, done_at=None)
    )
    return int(result.rowcount)

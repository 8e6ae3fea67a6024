"""The timeline: every fact about a session (R16) as an append-only row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, bindparam, insert, select

from wasession.domain.events import EventType
from wasession.store.db import executemany
from wasession.store.schema import event_deliveries, event_webhooks, events

# Built once (issue 6): the engine and ingest add events per message and per due session.
_INSERT = insert(events)
# What the outbox needs of each new row; unordered, so SQLite keeps one multi-row INSERT (ordered RETURNING
# would fall back to a statement per row there).
_INSERT_RETURNING = insert(events).returning(events.c.id, events.c.workspace_id, events.c.at)
_INSERT_DELIVERY = insert(event_deliveries)
_ENABLED_HOOKS = select(event_webhooks.c.id, event_webhooks.c.workspace_id).where(
    event_webhooks.c.enabled.is_(True),
    event_webhooks.c.workspace_id.in_(bindparam("b_workspaces", expanding=True)),
)
# Every type stored is part of the event-webhook contract: one not in EventType is a bug, refused here
# rather than sent to a CRM that cannot know what it means.
_KNOWN_TYPES = frozenset(EventType)


@dataclass(frozen=True)
class Event:
    id: int
    workspace_id: int
    channel_id: int | None
    session_id: int | None
    type: str
    at: datetime
    data: Mapping[str, Any]


class EventInsert(TypedDict):
    """One new event row, as `values` makes it for `add_many`."""

    workspace_id: int
    channel_id: int | None
    session_id: int | None
    type: str
    at: datetime
    data: dict[str, Any]


def values(
    *,
    workspace_id: int,
    type: str,
    at: datetime,
    channel_id: int | None = None,
    session_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> EventInsert:
    """One new event row, for `add_many`; ValueError if `type` is not an `EventType` value."""
    if type not in _KNOWN_TYPES:
        EventType.parse(type)  # raises, naming the type
    return {
        "workspace_id": workspace_id,
        "channel_id": channel_id,
        "session_id": session_id,
        "type": type,
        "at": at,
        "data": dict(data or {}),
    }


def add(
    conn: Connection,
    *,
    workspace_id: int,
    type: str,
    at: datetime,
    channel_id: int | None = None,
    session_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    add_many(
        conn,
        [values(workspace_id=workspace_id, type=type, at=at, channel_id=channel_id, session_id=session_id, data=data)],
    )


def add_many(conn: Connection, rows: Sequence[EventInsert]) -> None:
    """Rows made by `values`, in one executemany INSERT; their ids ascend in the order given.

    The transactional outbox: one delivery row per enabled webhook of the event's workspace, written in
    the transaction that adds the event, so an event is delivered exactly when it commits, whatever order
    concurrent transactions commit their ids in. A webhook created later gets only later events. The
    webhooks are read first, so the common case (no webhook) is a plain INSERT without RETURNING."""
    if not rows:
        return
    hooks = conn.execute(_ENABLED_HOOKS, {"b_workspaces": sorted({r["workspace_id"] for r in rows})}).all()
    if not hooks:
        executemany(conn, _INSERT, rows)
        return
    added = conn.execute(_INSERT_RETURNING, list(rows)).all()
    _queue_deliveries(conn, sorted((int(i), int(ws), at) for i, ws, at in added), hooks)


def _queue_deliveries(conn: Connection, added: Sequence[tuple[int, int, datetime]], hooks: Sequence[Any]) -> None:
    rows = [
        {
            "webhook_id": hook_id,
            "event_id": event_id,
            "payload": None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for event_id, ws, at in added
        for hook_id, hook_ws in hooks
        if hook_ws == ws
    ]
    conn.execute(_INSERT_DELIVERY, rows)


def for_session(conn: Connection, session_id: int) -> list[Event]:
    rows = conn.execute(select(events).where(events.c.session_id == session_id).order_by(events.c.id)).mappings()
    return [Event(**dict(r)) for r in rows]


def for_workspace(conn: Connection, workspace_id: int, *, after_id: int = 0, limit: int = 1000) -> list[Event]:
    rows = conn.execute(
        select(events)
        .where(events.c.workspace_id == workspace_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    ).mappings()
    return [Event(**dict(r)) for r in rows]

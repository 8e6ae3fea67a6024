"""The timeline: every fact about a session (R16) as an append-only row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, insert, select

from wasession.store.schema import events

# Built once (issue 6): the engine and ingest add events per message and per due session.
_INSERT = insert(events)


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
    """One new event row, for `add_many`."""
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
    conn.execute(
        _INSERT,
        values(
            workspace_id=workspace_id, type=type, at=at, channel_id=channel_id, session_id=session_id, data=data
        ),
    )


def add_many(conn: Connection, rows: Sequence[EventInsert]) -> None:
    """Rows made by `values`, in one executemany INSERT; their ids ascend in the order given."""
    if rows:
        conn.execute(_INSERT, list(rows))


def for_session(conn: Connection, session_id: int) -> list[Event]:
    rows = conn.execute(
        select(events).where(events.c.session_id == session_id).order_by(events.c.id)
    ).mappings()
    return [Event(**dict(r)) for r in rows]


def for_workspace(
    conn: Connection, workspace_id: int, *, after_id: int = 0, limit: int = 1000
) -> list[Event]:
    rows = conn.execute(
        select(events)
        .where(events.c.workspace_id == workspace_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    ).mappings()
    return [Event(**dict(r)) for r in rows]

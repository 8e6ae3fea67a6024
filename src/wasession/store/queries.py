"""The read model behind session lists and details: sessions joined with their channel's name and
their contact, scoped to one workspace, filtered and paged by a keyset on (last_customer_at, id).

Filters that depend on the time compare stored instants with the given now inside SQL, so a page
costs one indexed query however many sessions the workspace has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from wasession.domain.lifecycle import Awaiting, SessionStatus
from wasession.store.contacts import Contact
from wasession.store.db import Connection
from wasession.store.schema import channels, contacts, sessions
from wasession.store.sessions import SessionRow, session_from_values

_CONTACT_PREFIX = "contact__"
_CONTACT_COLUMNS = [c.label(f"{_CONTACT_PREFIX}{c.name}") for c in contacts.c]
_SESSION_COLUMNS = len(sessions.c)


@dataclass(frozen=True)
class SessionListRow:
    session: SessionRow
    channel_name: str
    contact: Contact


@dataclass(frozen=True)
class SessionFilter:
    """Each None means "any". `eligible` and `window_open` only ever hold for active sessions;
    `closing_within` keeps active sessions whose window closes after now and by now + closing_within."""

    status: SessionStatus | None = None
    eligible: bool | None = None
    window_open: bool | None = None
    awaiting: Awaiting | None = None
    channel_id: int | None = None
    contact_id: int | None = None
    wa_id: str | None = None  # the contact's WhatsApp id (phone number digits)
    closing_within: timedelta | None = None
    before: tuple[datetime, int] | None = None  # keyset: strictly after this (last_customer_at, id) in list order


def _base_query(workspace_id: int) -> Select[Any]:
    return (
        select(sessions, channels.c.name.label("channel_name"), *_CONTACT_COLUMNS)
        .join(channels, channels.c.id == sessions.c.channel_id)
        .join(contacts, contacts.c.id == sessions.c.contact_id)
        .where(channels.c.workspace_id == workspace_id)
    )


def _list_row(row: Any) -> SessionListRow:
    values = tuple(row)
    mapping = row._mapping
    contact = Contact(**{k[len(_CONTACT_PREFIX) :]: v for k, v in mapping.items() if k.startswith(_CONTACT_PREFIX)})
    return SessionListRow(session_from_values(values[:_SESSION_COLUMNS]), mapping["channel_name"], contact)


def _conditions(f: SessionFilter, now: datetime) -> list[ColumnElement[bool]]:
    active = sessions.c.status == SessionStatus.ACTIVE
    conditions: list[ColumnElement[bool]] = []
    if f.status is not None:
        conditions.append(sessions.c.status == f.status)
    if f.eligible is not None:
        is_eligible = and_(active, sessions.c.eligible_at <= now)
        conditions.append(is_eligible if f.eligible else or_(~active, sessions.c.eligible_at > now))
    if f.window_open is not None:
        is_open = and_(active, sessions.c.window_closes_at > now)
        conditions.append(is_open if f.window_open else or_(~active, sessions.c.window_closes_at <= now))
    if f.awaiting is not None:
        conditions.append(sessions.c.awaiting == f.awaiting)
    if f.channel_id is not None:
        conditions.append(sessions.c.channel_id == f.channel_id)
    if f.contact_id is not None:
        conditions.append(sessions.c.contact_id == f.contact_id)
    if f.wa_id is not None:
        conditions.append(contacts.c.wa_id == f.wa_id)
    if f.closing_within is not None:
        conditions.append(
            and_(active, sessions.c.window_closes_at > now, sessions.c.window_closes_at <= now + f.closing_within)
        )
    if f.before is not None:
        after_t, after_id = f.before
        conditions.append(
            or_(
                sessions.c.last_customer_at < after_t,
                and_(sessions.c.last_customer_at == after_t, sessions.c.id < after_id),
            )
        )
    return conditions


def list_page(
    conn: Connection, workspace_id: int, f: SessionFilter, *, now: datetime, limit: int
) -> list[SessionListRow]:
    """Up to `limit` matching sessions, newest customer activity first (last_customer_at desc, id desc)."""
    query = (
        _base_query(workspace_id)
        .where(*_conditions(f, now))
        .order_by(sessions.c.last_customer_at.desc(), sessions.c.id.desc())
        .limit(limit)
    )
    return [_list_row(r) for r in conn.execute(query)]


def one(conn: Connection, workspace_id: int, session_id: int) -> SessionListRow | None:
    row = conn.execute(_base_query(workspace_id).where(sessions.c.id == session_id)).first()
    return _list_row(row) if row else None

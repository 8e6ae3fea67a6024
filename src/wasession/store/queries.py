"""The read model behind session lists and details: sessions joined with their channel's name and
their contact, scoped to one workspace, filtered, searched, sorted and paged by a keyset.

A sort is a list of segments, each one keyset order on (column, id) under a condition: "window
closing soonest" lists the chats whose window is still open first, then the rest, so each segment
stays a plain indexed range and a page costs one or two queries however many sessions match.
Filters that depend on the time compare stored instants with the given now inside SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Select, and_, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from wasession.domain.states import Awaiting, SessionStatus
from wasession.store.contacts import Contact
from wasession.store.db import Connection
from wasession.store.schema import channels, chat_reads, contacts, events, messages, session_assignments, sessions
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
    search: str | None = None  # part of the contact's name, wa_id or phone, or of a message's text, any case
    snoozed: bool | None = None  # an active session whose snooze ends after now
    assignee_id: int | None = None  # assigned to this dashboard user (issue 23)
    unassigned: bool | None = None  # assigned to nobody (or, false, to someone)


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


def _substring(search: str) -> str:
    """A LIKE pattern for `search` anywhere, its own % _ and \\ taken literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", search) + "%"


def _matching_contacts(search: str, case_folding: bool) -> Select[Any]:
    """Contacts whose name, wa_id or phone holds `search`. SQLite's LIKE already ignores case (for
    ASCII, as its lower() does), so it is used as is there: lower() on every row costs 5x."""
    pattern = _substring(search)
    names = (contacts.c.profile_name, contacts.c.first_name, contacts.c.last_name)
    numbers = (contacts.c.wa_id, contacts.c.phone)
    return select(contacts.c.id).where(
        or_(
            *(c.like(pattern, escape="\\") if case_folding else c.ilike(pattern, escape="\\") for c in names),
            *(c.like(pattern, escape="\\") for c in numbers),
        )
    )


def _matching_messages(search: str, case_folding: bool) -> Select[Any]:
    """Sessions with a message whose text holds `search` (issue 23). A scan of the message bodies:
    no index serves a substring, so a search costs in proportion to the messages stored."""
    pattern = _substring(search)
    body = messages.c.body
    return select(messages.c.session_id).where(
        body.like(pattern, escape="\\") if case_folding else body.ilike(pattern, escape="\\")
    )


def _conditions(f: SessionFilter, now: datetime, case_folding: bool = False) -> list[ColumnElement[bool]]:
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
    if f.search:
        conditions.append(
            or_(
                sessions.c.contact_id.in_(_matching_contacts(f.search, case_folding)),
                sessions.c.id.in_(_matching_messages(f.search, case_folding)),
            )
        )
    if f.snoozed is not None:
        is_snoozed = and_(active, sessions.c.snoozed_until.is_not(None), sessions.c.snoozed_until > now)
        conditions.append(is_snoozed if f.snoozed else ~is_snoozed)
    if f.assignee_id is not None:
        mine = select(session_assignments.c.session_id).where(session_assignments.c.user_id == f.assignee_id)
        conditions.append(sessions.c.id.in_(mine))
    if f.unassigned is not None:
        assigned = sessions.c.id.in_(select(session_assignments.c.session_id))
        conditions.append(~assigned if f.unassigned else assigned)
    return conditions


def _folds_case(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


@dataclass(frozen=True)
class Segment:
    """Sessions matching `where`, in (column, id) order, ascending unless `descending`."""

    where: ColumnElement[bool]
    column: Column[Any]
    descending: bool


# Where a page starts or ends: (segment index, the column's value, session id).
Key = tuple[int, datetime, int]

SORTS = ("window", "last_message", "closure", "last_customer")


def segments(sort: str, now: datetime) -> list[Segment]:
    """The order of a sort. `window`: open windows closing soonest, then the others (closed windows,
    most recently closed first); `last_message`/`last_customer`: newest first; `closure`: the
    closure tick soonest first."""
    if sort == "window":
        is_open = and_(sessions.c.status == SessionStatus.ACTIVE, sessions.c.window_closes_at > now)
        return [
            Segment(is_open, sessions.c.window_closes_at, False),
            Segment(~is_open, sessions.c.window_closes_at, True),
        ]
    if sort == "last_message":
        return [Segment(true(), sessions.c.last_message_at, True)]
    if sort == "closure":
        return [Segment(true(), sessions.c.closes_at, False)]
    if sort == "last_customer":
        return [Segment(true(), sessions.c.last_customer_at, True)]
    raise ValueError(sort)


def _beyond(segment: Segment, value: datetime, session_id: int, forward: bool) -> ColumnElement[bool]:
    """Rows of `segment` strictly after (forward) or before the key in list order."""
    smaller = segment.descending == forward  # the rows wanted hold smaller values
    column, ident = segment.column, sessions.c.id
    if smaller:
        return or_(column < value, and_(column == value, ident < session_id))
    return or_(column > value, and_(column == value, ident > session_id))


def _ordered(segment: Segment, forward: bool) -> list[Any]:
    descending = segment.descending == forward
    return [segment.column.desc(), sessions.c.id.desc()] if descending else [segment.column.asc(), sessions.c.id.asc()]


def list_page(
    conn: Connection,
    workspace_id: int,
    f: SessionFilter,
    *,
    now: datetime,
    limit: int,
    sort: str = "last_customer",
    key: Key | None = None,
    forward: bool = True,
) -> list[tuple[int, SessionListRow]]:
    """Up to `limit` matching sessions with their segment index, in list order, strictly after `key`
    (forward) or strictly before it (backward; still returned in list order)."""
    order = segments(sort, now)
    indexes = list(range(len(order)) if forward else range(len(order) - 1, -1, -1))
    if key is not None:
        indexes = [i for i in indexes if (i >= key[0] if forward else i <= key[0])]
    found: list[tuple[int, SessionListRow]] = []
    base = _conditions(f, now, _folds_case(conn))
    for index in indexes:
        if len(found) >= limit:
            break
        segment = order[index]
        where = [*base, segment.where]
        if key is not None and index == key[0]:
            where.append(_beyond(segment, key[1], key[2], forward))
        query = _base_query(workspace_id).where(*where).order_by(*_ordered(segment, forward)).limit(limit - len(found))
        found.extend((index, _list_row(r)) for r in conn.execute(query))
    return found if forward else found[::-1]


def count(
    conn: Connection,
    workspace_id: int,
    f: SessionFilter,
    *,
    now: datetime,
    sort: str = "last_customer",
    before: Key | None = None,
) -> int:
    """How many sessions match; with `before`, how many of them come before that key in list order."""
    where = _conditions(f, now, _folds_case(conn))
    if before is not None:
        order = segments(sort, now)
        segment = order[before[0]]
        where.append(
            or_(
                *(s.where for s in order[: before[0]]),
                and_(segment.where, _beyond(segment, before[1], before[2], False)),
            )
        )
    joined = sessions.join(channels, channels.c.id == sessions.c.channel_id)
    if f.wa_id is not None:  # filters on the contact's column (search uses a subquery)
        joined = joined.join(contacts, contacts.c.id == sessions.c.contact_id)
    query = select(func.count()).select_from(joined).where(channels.c.workspace_id == workspace_id, *where)
    return int(conn.execute(query).scalar_one())


def key_of(index: int, row: SessionListRow, sort: str, now: datetime) -> Key:
    return index, getattr(row.session, segments(sort, now)[index].column.name), row.session.id


def last_messages(conn: Connection, session_ids: list[int]) -> dict[int, tuple[str, str, str | None, str]]:
    """Each session's newest message as (direction, type, body, status), for a preview line."""
    if not session_ids:
        return {}
    inner = messages.alias("newest")
    newest = (
        select(inner.c.id)
        .where(inner.c.session_id == sessions.c.id)
        .order_by(inner.c.sent_at.desc(), inner.c.id.desc())
        .limit(1)
        .correlate(sessions)
        .scalar_subquery()
    )
    query = (
        select(messages.c.session_id, messages.c.direction, messages.c.type, messages.c.body, messages.c.status)
        .select_from(sessions.join(messages, messages.c.id == newest))
        .where(sessions.c.id.in_(session_ids))
    )
    return {r.session_id: (r.direction, r.type, r.body, r.status) for r in conn.execute(query)}


def one(conn: Connection, workspace_id: int, session_id: int) -> SessionListRow | None:
    row = conn.execute(_base_query(workspace_id).where(sessions.c.id == session_id)).first()
    return _list_row(row) if row else None


def last_event_id(conn: Connection, workspace_id: int) -> int:
    return int(conn.execute(select(func.max(events.c.id)).where(events.c.workspace_id == workspace_id)).scalar() or 0)


def events_after(conn: Connection, workspace_id: int, after_id: int, limit: int) -> list[tuple[int, int | None, str]]:
    """(id, session id, type) of the workspace's events after `after_id`, oldest first."""
    query = (
        select(events.c.id, events.c.session_id, events.c.type)
        .where(events.c.workspace_id == workspace_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [(r.id, r.session_id, r.type) for r in conn.execute(query)]


def mark_read(conn: Connection, user_id: int, session_id: int, at: datetime) -> None:
    """The user opened the chat at `at` (a later time only ever moves it forward)."""
    moved = conn.execute(
        chat_reads.update()
        .where(chat_reads.c.user_id == user_id, chat_reads.c.session_id == session_id, chat_reads.c.read_at < at)
        .values(read_at=at)
    ).rowcount
    if not moved:
        exists = conn.execute(
            select(chat_reads.c.read_at).where(chat_reads.c.user_id == user_id, chat_reads.c.session_id == session_id)
        ).first()
        if exists is None:
            conn.execute(chat_reads.insert().values(user_id=user_id, session_id=session_id, read_at=at))


def read_times(conn: Connection, user_id: int, session_ids: list[int]) -> dict[int, datetime]:
    if not session_ids:
        return {}
    query = select(chat_reads.c.session_id, chat_reads.c.read_at).where(
        chat_reads.c.user_id == user_id, chat_reads.c.session_id.in_(session_ids)
    )
    return {r.session_id: r.read_at for r in conn.execute(query)}

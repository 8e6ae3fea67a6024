"""Read models for the faces (REST API and dashboard): session lists with filters, and session detail.

Every query is scoped to one workspace: another workspace's rows are simply not found. Filters that
depend on the time (eligible, window open, closing soon) compare stored instants with the clock's
now inside SQL, so a page costs one indexed query however many sessions the workspace has.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from wasession.domain.clock import parse_instant
from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store.contacts import Contact
from wasession.store.events import Event
from wasession.store.messages import MessageRow
from wasession.store.schema import channels, contacts, sessions

MAX_PAGE = 200
STATUSES = ("active", "closed")
AWAITING = ("agent", "customer")


@dataclass(frozen=True)
class SessionSummary:
    id: int
    channel_id: int
    channel_name: str
    contact_id: int
    contact_name: str
    contact_wa_id: str | None
    contact_user_id: str | None
    status: str
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_customer_at: datetime
    last_message_at: datetime
    awaiting: str
    eligible: bool
    eligible_at: datetime
    window_open: bool
    window_closes_at: datetime
    closes_at: datetime  # the closure tick (R9) that will close it while it stays silent
    reminder_state: str
    reminder_due_at: datetime | None
    reminder_reason: str | None


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class SessionDetail:
    summary: SessionSummary
    transcript: list[MessageRow]
    timeline: list[Event]


_CONTACT_COLUMNS = [c.label(f"contact__{c.name}") for c in contacts.c]


def _base_query(workspace_id: int) -> Any:
    return (
        select(sessions, channels.c.name.label("channel_name"), *_CONTACT_COLUMNS)
        .join(channels, channels.c.id == sessions.c.channel_id)
        .join(contacts, contacts.c.id == sessions.c.contact_id)
        .where(channels.c.workspace_id == workspace_id)
    )


def _summary(row: Any, now: datetime) -> SessionSummary:
    contact = Contact(**{k[len("contact__") :]: v for k, v in row.items() if k.startswith("contact__")})
    active = row["status"] == "active"
    return SessionSummary(
        id=row["id"],
        channel_id=row["channel_id"],
        channel_name=row["channel_name"],
        contact_id=row["contact_id"],
        contact_name=contact.display_name(),
        contact_wa_id=contact.wa_id,
        contact_user_id=contact.user_id,
        status=row["status"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        close_reason=row["close_reason"],
        last_customer_at=row["last_customer_at"],
        last_message_at=row["last_message_at"],
        awaiting=row["awaiting"],
        eligible=active and now >= row["eligible_at"],
        eligible_at=row["eligible_at"],
        window_open=active and now < row["window_closes_at"],
        window_closes_at=row["window_closes_at"],
        closes_at=row["closes_at"],
        reminder_state=row["reminder_state"],
        reminder_due_at=row["reminder_due_at"],
        reminder_reason=row["reminder_reason"],
    )


def encode_cursor(last_customer_at: datetime, session_id: int) -> str:
    raw = json.dumps({"t": last_customer_at.isoformat(), "id": session_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        instant = parse_instant(str(data["t"]))
        session_id = data["id"]
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            raise TypeError("id")
        return instant, session_id
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, AttributeError) as exc:
        raise ValidationError(
            "cursor", "cursor is not one this API returned; pass next_cursor unchanged", code="invalid_cursor"
        ) from exc


def list_sessions(
    ctx: ServiceContext,
    *,
    workspace_id: int,
    status: str | None = None,
    eligible: bool | None = None,
    window_open: bool | None = None,
    awaiting: str | None = None,
    channel_id: int | None = None,
    contact_id: int | None = None,
    closing_within: timedelta | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SessionPage:
    """Sessions newest customer activity first (last_customer_at desc, id desc), one page at a time.

    `eligible` and `window_open` are only ever true for active sessions. `closing_within` keeps the
    active sessions whose window closes after now and no later than now + closing_within.
    """
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    if awaiting is not None and awaiting not in AWAITING:
        raise ValidationError("awaiting", f"awaiting must be one of {', '.join(AWAITING)}; got {awaiting!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit", f"limit must be from 1 to {MAX_PAGE}; got {limit}", code="out_of_range")
    if closing_within is not None and closing_within <= timedelta(0):
        raise ValidationError("closing_within", "closing_within must be a positive duration", code="out_of_range")
    now = ctx.clock.now()
    active = sessions.c.status == "active"
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(sessions.c.status == status)
    if eligible is not None:
        is_eligible = and_(active, sessions.c.eligible_at <= now)
        conditions.append(is_eligible if eligible else or_(~active, sessions.c.eligible_at > now))
    if window_open is not None:
        is_open = and_(active, sessions.c.window_closes_at > now)
        conditions.append(is_open if window_open else or_(~active, sessions.c.window_closes_at <= now))
    if awaiting is not None:
        conditions.append(sessions.c.awaiting == awaiting)
    if channel_id is not None:
        conditions.append(sessions.c.channel_id == channel_id)
    if contact_id is not None:
        conditions.append(sessions.c.contact_id == contact_id)
    if closing_within is not None:
        conditions.append(
            and_(active, sessions.c.window_closes_at > now, sessions.c.window_closes_at <= now + closing_within)
        )
    if cursor is not None:
        after_t, after_id = decode_cursor(cursor)
        conditions.append(
            or_(
                sessions.c.last_customer_at < after_t,
                and_(sessions.c.last_customer_at == after_t, sessions.c.id < after_id),
            )
        )
    query = (
        _base_query(workspace_id)
        .where(*conditions)
        .order_by(sessions.c.last_customer_at.desc(), sessions.c.id.desc())
        .limit(limit + 1)
    )
    with ctx.db.read() as conn:
        rows = list(conn.execute(query).mappings())
    items = [_summary(r, now) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.last_customer_at, last.id)
    return SessionPage(items, next_cursor)


def session_summary(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> SessionSummary:
    with ctx.db.read() as conn:
        row = conn.execute(_base_query(workspace_id).where(sessions.c.id == session_id)).mappings().first()
    if row is None:
        raise NotFoundError("session", session_id)
    return _summary(row, ctx.clock.now())


def session_detail(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> SessionDetail:
    """One session with its transcript (in send order) and its timeline of events (in write order)."""
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        row = conn.execute(_base_query(workspace_id).where(sessions.c.id == session_id)).mappings().first()
        if row is None:
            raise NotFoundError("session", session_id)
        transcript = message_store.transcript(conn, session_id)
        timeline = event_store.for_session(conn, session_id)
    return SessionDetail(_summary(row, now), transcript, timeline)

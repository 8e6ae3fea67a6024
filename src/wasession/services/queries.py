"""Read models for the faces (REST API and dashboard): session lists with filters, and session detail.

Every query is scoped to one workspace: another workspace's rows are simply not found. The SQL lives in
`wasession.store.queries`; here are the checks of what the faces ask and the summaries they get.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from wasession.domain.clock import parse_instant
from wasession.domain.lifecycle import Awaiting, CloseReason, ReminderState, SessionStatus
from wasession.domain.plan import is_held, is_snoozed
from wasession.domain.policy import Policy
from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import channels as channel_store
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store import queries as query_store
from wasession.store.db import Connection
from wasession.store.events import Event
from wasession.store.messages import MessageRow
from wasession.store.queries import SessionFilter, SessionListRow

MAX_PAGE = 200
STATUSES = tuple(SessionStatus)
AWAITING = tuple(Awaiting)


@dataclass(frozen=True)
class SessionSummary:
    id: int
    channel_id: int
    channel_name: str
    contact_id: int
    contact_name: str
    contact_wa_id: str | None
    contact_user_id: str | None
    status: SessionStatus
    opened_at: datetime
    closed_at: datetime | None
    close_reason: CloseReason | None
    last_customer_at: datetime
    last_message_at: datetime
    awaiting: Awaiting
    eligible: bool
    eligible_at: datetime
    window_open: bool
    window_closes_at: datetime
    closes_at: datetime  # the closure tick (R9) that will close it while it stays silent
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    reminder_reason: str | None
    reminder_step: int = 1
    snoozed_until: datetime | None = None
    snoozed: bool = False  # snoozed_until is ahead: no reminder and no automatic closure until then
    held: bool = False  # hold_while_awaiting_agent keeps it open until an agent replies


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class SessionDetail:
    summary: SessionSummary
    transcript: list[MessageRow]
    timeline: list[Event]


def _policies(conn: Connection, rows: list[SessionListRow]) -> dict[int, Policy]:
    """The policies of the channels of `rows`, for what a session shows that depends on it (held)."""
    found: dict[int, Policy] = {}
    for row in rows:
        channel_id = row.session.channel_id
        if channel_id not in found:
            channel = channel_store.get(conn, channel_id)
            found[channel_id] = channel.policy if channel is not None else Policy()
    return found


def _summary(row: SessionListRow, now: datetime, policies: dict[int, Policy] | None = None) -> SessionSummary:
    session, contact = row.session, row.contact
    policy = (policies or {}).get(session.channel_id, Policy())
    return SessionSummary(
        id=session.id,
        channel_id=session.channel_id,
        channel_name=row.channel_name,
        contact_id=session.contact_id,
        contact_name=contact.display_name(),
        contact_wa_id=contact.wa_id,
        contact_user_id=contact.user_id,
        status=session.status,
        opened_at=session.opened_at,
        closed_at=session.closed_at,
        close_reason=session.close_reason,
        last_customer_at=session.last_customer_at,
        last_message_at=session.last_message_at,
        awaiting=session.awaiting,
        eligible=session.eligible(now),
        eligible_at=session.eligible_at,
        window_open=session.window_open(now),
        window_closes_at=session.window_closes_at,
        closes_at=session.closes_at,
        reminder_state=session.reminder_state,
        reminder_due_at=session.reminder_due_at,
        reminder_reason=session.reminder_reason,
        reminder_step=session.reminder_step,
        snoozed_until=session.snoozed_until,
        snoozed=session.active and is_snoozed(session.snoozed_until, now),
        held=session.active and is_held(policy, session.awaiting),
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
    query = SessionFilter(
        status=SessionStatus(status) if status is not None else None,
        eligible=eligible,
        window_open=window_open,
        awaiting=Awaiting(awaiting) if awaiting is not None else None,
        channel_id=channel_id,
        contact_id=contact_id,
        closing_within=closing_within,
        before=decode_cursor(cursor) if cursor is not None else None,
    )
    with ctx.db.read() as conn:
        rows = query_store.list_page(conn, workspace_id, query, now=now, limit=limit + 1)
        policies = _policies(conn, rows)
    items = [_summary(r, now, policies) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.last_customer_at, last.id)
    return SessionPage(items, next_cursor)


def session_summary(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> SessionSummary:
    with ctx.db.read() as conn:
        row = query_store.one(conn, workspace_id, session_id)
        policies = _policies(conn, [row]) if row is not None else {}
    if row is None:
        raise NotFoundError("session", session_id)
    return _summary(row, ctx.clock.now(), policies)


def session_detail(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> SessionDetail:
    """One session with its transcript (in send order) and its timeline of events (in write order)."""
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        row = query_store.one(conn, workspace_id, session_id)
        if row is None:
            raise NotFoundError("session", session_id)
        transcript = message_store.transcript(conn, session_id)
        timeline = event_store.for_session(conn, session_id)
        policies = _policies(conn, [row])
    return SessionDetail(_summary(row, now, policies), transcript, timeline)

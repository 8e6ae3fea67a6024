"""Read models for the faces (REST API and dashboard): session lists with filters, and session detail.

Every query is scoped to one workspace: another workspace's rows are simply not found. The SQL lives in
`wasession.store.queries`; here are the checks of what the faces ask and the summaries they get.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from wasession.domain.clock import parse_instant
from wasession.domain.events import EventType
from wasession.domain.plan import ReminderStatus, is_held, is_snoozed, reminder_status
from wasession.domain.policy import Policy
from wasession.domain.states import Awaiting, CloseReason, MessageStatus, ReminderState, SessionStatus
from wasession.lifecycle.context import ServiceContext
from wasession.services.contacts import wa_id_filter
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import channels as channel_store
from wasession.store import db
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store import metrics as metrics_store
from wasession.store import queries as query_store
from wasession.store import team as team_store
from wasession.store import users as user_store
from wasession.store.db import Connection
from wasession.store.events import Event
from wasession.store.messages import MessageRow
from wasession.store.metrics import GaugeCounts
from wasession.store.queries import SORTS, Key, SessionFilter, SessionListRow
from wasession.store.team import Assignment

MAX_PAGE = 200
MAX_SEARCH = 100
PREVIEW = 80  # characters of the last message shown in a list
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
    last_message_preview: str | None = None  # filled in lists only
    last_message_failed: bool = False  # in lists: the newest message is ours and was not sent (issue 23)
    reminder_step: int = 1
    snoozed_until: datetime | None = None
    snoozed: bool = False  # snoozed_until is ahead: no reminder and no automatic closure until then
    held: bool = False  # hold_while_awaiting_agent keeps it open until an agent replies
    # The reminder as every face shows it (domain.plan.reminder_status): list, page and API agree.
    reminder: ReminderStatus = field(default_factory=lambda: ReminderStatus("none"))
    assignee: str | None = None  # the dashboard user the chat is assigned to (issue 23)


@dataclass(frozen=True)
class SessionPage:
    items: list[SessionSummary]
    next_cursor: str | None
    prev_cursor: str | None = None
    total: int = 0  # every session matching the filters
    start: int = 0  # the position of the first item in the whole list, from 1 (0 when empty)


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
    held = session.active and is_held(policy, session.awaiting)
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
        held=held,
        reminder=reminder_status(
            active=session.active,
            reminder_state=session.reminder_state,
            reminder_step=session.reminder_step,
            reminder_due_at=session.reminder_due_at,
            reminder_reason=session.reminder_reason,
            snoozed_until=session.snoozed_until,
            closes_at=session.closes_at,
            held=held,
            policy=policy,
            now=now,
        ),
    )


def encode_cursor(sort: str, key: Key, forward: bool) -> str:
    index, value, session_id = key
    raw = {"s": sort, "g": index, "t": value.isoformat(), "id": session_id, "d": "n" if forward else "p"}
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Key, bool]:
    """The key a page starts after (forward) or ends before, and the direction."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        instant = parse_instant(str(data["t"]))
        session_id, index = data["id"], data.get("g", 0)
        for number in (session_id, index):
            if not isinstance(number, int) or isinstance(number, bool):
                raise TypeError("id")
        if not 0 <= index <= 1 or data.get("d", "n") not in ("n", "p"):
            raise ValueError("segment")
        cursor_sort = data.get("s", "last_customer")
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, AttributeError) as exc:
        raise ValidationError(
            "cursor", "cursor is not one this API returned; pass next_cursor unchanged", code="invalid_cursor"
        ) from exc
    if cursor_sort != sort:
        raise ValidationError(
            "cursor", f"cursor belongs to the sort {cursor_sort!r}; pass the same sort with it", code="invalid_cursor"
        )
    return (index, instant, session_id), data.get("d", "n") == "n"


def _preview(message: tuple[str, str, str | None, str] | None) -> str | None:
    if message is None:
        return None
    direction, kind, body, _ = message
    text = " ".join((body or f"[{kind}]").split())
    text = text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"
    return text if direction == "in" else f"You: {text}"


def _failed(message: tuple[str, str, str | None, str] | None) -> bool:
    """The newest message is one of ours that WhatsApp refused or we could not send: the list marks it."""
    return message is not None and message[0] == "out" and message[3] in (MessageStatus.FAILED, MessageStatus.UNKNOWN)


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
    search: str | None = None,
    sort: str = "last_customer",
    limit: int = 50,
    wa_id: str | None = None,
    cursor: str | None = None,
    snoozed: bool | None = None,
    assignee: str | None = None,
    unassigned: bool | None = None,
) -> SessionPage:
    """One page of sessions in the order of `sort` (see `wasession.store.queries.segments`), with
    cursors both ways, the count of all matching sessions and the page's position among them.

    `eligible` and `window_open` are only ever true for active sessions. `closing_within` keeps the
    active sessions whose window closes after now and no later than now + closing_within. `search`
    matches part of the contact's name, WhatsApp id or phone, in any case. `snoozed` keeps the
    active sessions snoozed now (or, false, every other). `assignee` keeps the chats assigned to that
    user of the workspace (another name is refused, naming `assignee`); `unassigned` those assigned to
    nobody (or, false, to someone).
    """
    if status is not None and status not in STATUSES:
        raise ValidationError("status", f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    if awaiting is not None and awaiting not in AWAITING:
        raise ValidationError("awaiting", f"awaiting must be one of {', '.join(AWAITING)}; got {awaiting!r}")
    if sort not in SORTS:
        raise ValidationError("sort", f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit", f"limit must be from 1 to {MAX_PAGE}; got {limit}", code="out_of_range")
    if closing_within is not None and closing_within <= timedelta(0):
        raise ValidationError("closing_within", "closing_within must be a positive duration", code="out_of_range")
    search = (search or "").strip() or None
    if search is not None and len(search) > MAX_SEARCH:
        raise ValidationError("search", f"search must be at most {MAX_SEARCH} characters", code="too_long")
    key, forward = decode_cursor(cursor, sort) if cursor is not None else (None, True)
    now = ctx.clock.now()
    assignee_id = _assignee_id(ctx, workspace_id, assignee) if assignee is not None else None
    query = SessionFilter(
        status=SessionStatus(status) if status is not None else None,
        eligible=eligible,
        window_open=window_open,
        awaiting=Awaiting(awaiting) if awaiting is not None else None,
        channel_id=channel_id,
        contact_id=contact_id,
        wa_id=wa_id_filter(wa_id),
        closing_within=closing_within,
        search=search,
        snoozed=snoozed,
        assignee_id=assignee_id,
        unassigned=unassigned,
    )
    with ctx.db.read() as conn:
        rows = query_store.list_page(
            conn, workspace_id, query, now=now, limit=limit + 1, sort=sort, key=key, forward=forward
        )
        more = len(rows) > limit  # another page beyond this one, in the direction read
        rows = rows[:limit] if forward else rows[-limit:]
        total = query_store.count(conn, workspace_id, query, now=now)
        first = query_store.key_of(*rows[0], sort, now) if rows else None
        before = 0  # the first page (no cursor) starts the list
        if first is not None and key is not None:
            before = query_store.count(conn, workspace_id, query, now=now, sort=sort, before=first)
        previews = query_store.last_messages(conn, [r.session.id for _, r in rows])
        policies = _policies(conn, [r for _, r in rows])
        assigned = team_store.assignments(conn, [r.session.id for _, r in rows])
    items = [
        replace(
            _summary(r, now, policies),
            last_message_preview=_preview(previews.get(r.session.id)),
            last_message_failed=_failed(previews.get(r.session.id)),
            assignee=_username(assigned.get(r.session.id)),
        )
        for _, r in rows
    ]
    next_cursor = prev_cursor = None
    if rows and (more if forward else key is not None):
        next_cursor = encode_cursor(sort, query_store.key_of(*rows[-1], sort, now), True)
    if first is not None and (before > 0):
        prev_cursor = encode_cursor(sort, first, False)
    return SessionPage(items, next_cursor, prev_cursor, total, before + 1 if rows else 0)


def session_summary(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> SessionSummary:
    with ctx.db.read() as conn:
        row = query_store.one(conn, workspace_id, session_id)
        policies = _policies(conn, [row]) if row is not None else {}
        assigned = team_store.assignment(conn, session_id) if row is not None else None
    if row is None:
        raise NotFoundError("session", session_id)
    return replace(_summary(row, ctx.clock.now(), policies), assignee=_username(assigned))


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
        assigned = team_store.assignment(conn, session_id)
    return SessionDetail(replace(_summary(row, now, policies), assignee=_username(assigned)), transcript, timeline)


def _username(assignment: Assignment | None) -> str | None:
    return assignment.username if assignment is not None else None


def _assignee_id(ctx: ServiceContext, workspace_id: int, username: str) -> int:
    """The id of the workspace's user named `username`; another name is refused, naming `assignee`."""
    with ctx.db.read() as conn:
        user = user_store.by_username(conn, username.strip())
    if user is None or user.workspace_id != workspace_id:
        raise ValidationError("assignee", f"assignee must be a user of this workspace; got {username!r}", "unknown")
    return user.id


@dataclass(frozen=True)
class Changes:
    """What happened in a workspace after an event id: for live pages to know what to redraw."""

    last_id: int
    sessions: list[int]  # sessions with any new event, in order of their first one
    customer: list[int]  # of those, the ones a customer wrote to
    # "Ana Silva: Is my order…" for the first few of `customer`: what a desktop notification says.
    said: list[str] = field(default_factory=list)


MAX_CHANGES = 1000
NOTIFY_AT_MOST = 3


def last_change(ctx: ServiceContext, *, workspace_id: int) -> int:
    with ctx.db.read() as conn:
        return query_store.last_event_id(conn, workspace_id)


def changes_since(ctx: ServiceContext, after_id: int, *, workspace_id: int) -> Changes:
    """The workspace's sessions touched after event `after_id` (another workspace's never show)."""
    with ctx.db.read() as conn:
        rows = query_store.events_after(conn, workspace_id, after_id, MAX_CHANGES)
        touched = list(dict.fromkeys(session for _, session, _ in rows if session is not None))
        wrote = list(dict.fromkeys(s for _, s, kind in rows if s is not None and kind == EventType.CUSTOMER_MESSAGE))
        said = []
        newest = query_store.last_messages(conn, wrote[:NOTIFY_AT_MOST])
        for session_id in wrote[:NOTIFY_AT_MOST]:
            row = query_store.one(conn, workspace_id, session_id)
            if row is not None:
                said.append(f"{row.contact.display_name()}: {_first_words(newest.get(session_id))}")
    return Changes(rows[-1][0] if rows else after_id, touched, wrote, said)


def _first_words(message: tuple[str, str, str | None, str] | None, limit: int = 60) -> str:
    if message is None:
        return "wrote"
    text = " ".join((message[2] or f"[{message[1]}]").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mark_read(ctx: ServiceContext, user_id: int, session_id: int, *, workspace_id: int) -> None:
    """The dashboard user opened this chat now: it is read for them until the customer writes again."""
    with ctx.db.write() as conn:
        if query_store.one(conn, workspace_id, session_id) is None:
            raise NotFoundError("session", session_id)
        query_store.mark_read(conn, user_id, session_id, ctx.clock.now())


def unread(ctx: ServiceContext, user_id: int, items: list[SessionSummary]) -> set[int]:
    """Of these sessions, the ones with a customer message the user has not seen (never opened, or
    opened before the last customer message)."""
    with ctx.db.read() as conn:
        seen = query_store.read_times(conn, user_id, [s.id for s in items])
    return {s.id for s in items if s.id not in seen or seen[s.id] < s.last_customer_at}


# What the operations endpoints (/readyz, /metrics) ask of the database.
def ping(ctx: ServiceContext) -> None:
    """Raises what the driver raises when the database cannot be reached."""
    db.ping(ctx.db)


def gauge_counts(ctx: ServiceContext) -> GaugeCounts:
    with ctx.db.read() as conn:
        return metrics_store.gauge_counts(conn, ctx.clock.now())

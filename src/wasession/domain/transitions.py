"""The session lifecycle as pure transitions: the session's current state and what happened in, the
change to write out. No I/O: `wasession.lifecycle.writes` applies a `Change` (session update, events,
the reminder message to queue) in the caller's transaction.

Every transition that touches the schedule goes through `replanned`, so a written session always
carries the due time `plan` gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from typing_extensions import Unpack

from wasession.domain.events import EventType
from wasession.domain.lifecycle import (
    Awaiting,
    CloseReason,
    DueKind,
    MessageStatus,
    ReminderState,
    SessionStatus,
    reminder_skip_reason,
    render_reminder,
)
from wasession.domain.plan import NEW_SILENCE, Plan, plan
from wasession.domain.policy import Policy

# Meta's error for a message outside the customer service window: the window closed early (R15).
WINDOW_CLOSED_ERROR = 131047
# R15 for the session's copy of its reminder's delivery: it only ever moves up this rank.
REMINDER_DELIVERY_RANK: Mapping[ReminderState, int] = {
    ReminderState.UNKNOWN: 0,
    ReminderState.SENT: 1,
    ReminderState.DELIVERED: 2,
    ReminderState.READ: 3,
}


class SessionFields(TypedDict, total=False):
    """Session columns a change may set (the store's `SessionUpdate` is this type)."""

    status: SessionStatus
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


class PlanFields(TypedDict):
    """The session columns that hold its plan."""

    window_closes_at: datetime
    eligible_at: datetime
    closes_at: datetime
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    due_at: datetime | None
    due_kind: DueKind | None


class ReplanExtra(TypedDict, total=False):
    """What a re-plan may write besides the plan: the new silence's T and the fields it resets."""

    last_customer_at: datetime
    last_message_at: datetime
    window_closed_early_at: datetime | None
    awaiting: Awaiting
    reminder_reason: str | None


@dataclass(frozen=True)
class SessionState:
    """What the transitions read of a session (the store's row carries more)."""

    status: SessionStatus
    last_customer_at: datetime
    last_message_at: datetime
    window_closes_at: datetime
    window_closed_early_at: datetime | None
    eligible_at: datetime
    closes_at: datetime
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    awaiting: Awaiting = Awaiting.AGENT

    @property
    def active(self) -> bool:
        return self.status == SessionStatus.ACTIVE


@dataclass(frozen=True)
class EventNote:
    """An event to record on the session's timeline. `names_message` asks the writer to put the id of
    the message the change queues first in the data (the id exists only once the message is written)."""

    type: EventType
    at: datetime
    data: Mapping[str, object] = field(default_factory=dict)
    names_message: bool = False


@dataclass(frozen=True)
class QueueReminder:
    """The reminder message to put in the outbox for the silence that began at `silence_t`."""

    text: str
    silence_t: datetime
    at: datetime  # when it was queued


@dataclass(frozen=True)
class Change:
    fields: SessionFields = field(default_factory=lambda: SessionFields())
    events: tuple[EventNote, ...] = ()
    reminder: QueueReminder | None = None
    plan: Plan | None = None  # the new schedule, when the change re-planned

    @property
    def empty(self) -> bool:
        return not self.fields and not self.events and self.reminder is None


NO_CHANGE = Change()


class SendOutcome(StrEnum):
    """How the sender's attempt at a reminder ended, as far as the session cares."""

    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


def plan_fields(p: Plan) -> PlanFields:
    return {
        "window_closes_at": p.window_closes_at,
        "eligible_at": p.eligible_at,
        "closes_at": p.closes_at,
        "reminder_state": p.reminder_state,
        "reminder_due_at": p.reminder_due_at,
        "due_at": p.due_at,
        "due_kind": p.due_kind,
    }


def _plan_session_fields(p: Plan) -> SessionFields:
    return {
        "window_closes_at": p.window_closes_at,
        "eligible_at": p.eligible_at,
        "closes_at": p.closes_at,
        "reminder_state": p.reminder_state,
        "reminder_due_at": p.reminder_due_at,
        "due_at": p.due_at,
        "due_kind": p.due_kind,
    }


def replanned(
    state: SessionState,
    policy: Policy,
    now: datetime,
    *,
    reminder_state: ReminderState | None = None,
    policy_changed: bool = False,
    **extra: Unpack[ReplanExtra],
) -> tuple[Plan, SessionFields]:
    """The session's new plan and the fields that write it, `extra` included (and read by the plan
    where it moves T or the early window close)."""
    p = plan(
        last_customer_at=extra.get("last_customer_at", state.last_customer_at),
        policy=policy,
        reminder_state=reminder_state if reminder_state is not None else state.reminder_state,
        now=now,
        window_closed_early_at=extra.get("window_closed_early_at", state.window_closed_early_at),
        policy_changed=policy_changed,
    )
    values = _plan_session_fields(p)
    # Key by key: mypy checks each against SessionFields, which a ** merge of TypedDicts would not allow.
    if "last_customer_at" in extra:
        values["last_customer_at"] = extra["last_customer_at"]
    if "last_message_at" in extra:
        values["last_message_at"] = extra["last_message_at"]
    if "window_closed_early_at" in extra:
        values["window_closed_early_at"] = extra["window_closed_early_at"]
    if "awaiting" in extra:
        values["awaiting"] = extra["awaiting"]
    if "reminder_reason" in extra:
        values["reminder_reason"] = extra["reminder_reason"]
    return p, values


def opened(*, at: datetime, policy: Policy, now: datetime, wamid: str, message_type: str) -> Change:
    """A customer's window-opening message at T = `at` with no active session: the new session's fields
    (the caller adds channel, contact and id) and its first events."""
    p = plan(last_customer_at=at, policy=policy, reminder_state=NEW_SILENCE, now=now)
    values = _plan_session_fields(p)
    values["status"] = SessionStatus.ACTIVE
    values["last_customer_at"] = values["last_message_at"] = at
    values["awaiting"] = Awaiting.AGENT
    events = (EventNote(EventType.SESSION_OPENED, at, {"wamid": wamid}), _customer_event(p, at, wamid, message_type))
    return Change(values, events, plan=p)


def _customer_event(p: Plan, at: datetime, wamid: str, message_type: str) -> EventNote:
    data = {
        "wamid": wamid,
        "type": message_type,
        "window_closes_at": p.window_closes_at,
        "closes_at": p.closes_at,
        "reminder_due_at": p.reminder_due_at,
    }
    return EventNote(EventType.CUSTOMER_MESSAGE, at, data)


def customer_wrote(
    state: SessionState, *, at: datetime, policy: Policy, now: datetime, wamid: str, message_type: str
) -> Change:
    """A window-opening message at T' on an active session: a new silence if T' > T (R3), else a late
    message that keeps its place in the transcript and moves nothing (R5)."""
    if at <= state.last_customer_at:
        return Change(events=(EventNote(EventType.CUSTOMER_MESSAGE, at, {"wamid": wamid, "late": True}),))
    p, values = replanned(
        state,
        policy,
        now,
        reminder_state=NEW_SILENCE,
        last_customer_at=at,
        last_message_at=max(at, state.last_message_at),
        window_closed_early_at=None,
        awaiting=Awaiting.AGENT,
        reminder_reason=None,
    )
    return Change(values, (_customer_event(p, at, wamid, message_type),), plan=p)


def agent_wrote(state: SessionState, now: datetime) -> Change:
    """An agent's message or template queued: the customer's turn. It never moves T, the timeout or the
    window (R8), and a closed session keeps its fields."""
    if not state.active:
        return NO_CHANGE
    return Change({"awaiting": Awaiting.CUSTOMER, "last_message_at": max(now, state.last_message_at)})


def reminder_due(
    state: SessionState,
    *,
    policy: Policy,
    now: datetime,
    merge_values: Callable[[], Mapping[str, str]],
    automated_this_month: int | None = None,
) -> Change:
    """The session's pending reminder is due: queue it, or skip it with the reason (R6, R7). At most one
    reminder per silence: either way the state leaves `pending` for one of the handled states.

    `merge_values` gives the contact's merge fields; it is called only when the reminder would go out.
    `automated_this_month` is the channel's automated sends this month, for the cap (R17)."""
    reason = reminder_skip_reason(
        now=now,
        policy=policy,
        session_active=state.active,
        last_customer_at=state.last_customer_at,
        silence_started_at=state.last_customer_at,
        window_closes_at=state.window_closes_at,
        automated_this_month=automated_this_month,
    )
    text = ""
    if reason is None:
        text, reason = render_reminder(policy, dict(merge_values()))
    if reason is not None:
        p, values = replanned(state, policy, now, reminder_state=ReminderState.SKIPPED, reminder_reason=reason)
        event = EventNote(EventType.REMINDER_SKIPPED, now, {"reason": reason, "due_at": state.reminder_due_at})
        return Change(values, (event,), plan=p)
    p, values = replanned(state, policy, now, reminder_state=ReminderState.QUEUED, reminder_reason=None)
    event = EventNote(EventType.REMINDER_QUEUED, now, {"due_at": state.reminder_due_at}, names_message=True)
    return Change(values, (event,), QueueReminder(text, state.last_customer_at, now), plan=p)


def reminder_send_outcome(
    state: SessionState,
    *,
    silence_t: datetime | None,
    outcome: SendOutcome,
    policy: Policy,
    now: datetime,
    at: datetime | None = None,
    error_code: int | None = None,
    reason: str | None = None,
) -> Change:
    """What a reminder's send (or a `failed` status webhook, at `at`) does to its session. Only a
    reminder of the current silence counts; a 131047 failure closes the window early (R15)."""
    if silence_t != state.last_customer_at:
        return NO_CHANGE
    outcome = SendOutcome(outcome)
    if outcome is SendOutcome.SENT:
        return Change({"reminder_state": ReminderState.SENT})
    if outcome is SendOutcome.UNKNOWN:
        return Change({"reminder_state": ReminderState.UNKNOWN})
    if outcome is SendOutcome.SKIPPED:
        if not state.active:
            return NO_CHANGE
        return Change({"reminder_state": ReminderState.SKIPPED, "reminder_reason": reason})
    failed_reason = f"error {error_code}" if error_code else "failed"
    if not state.active:
        return Change({"reminder_state": ReminderState.FAILED, "reminder_reason": failed_reason})
    events: tuple[EventNote, ...] = ()
    if error_code == WINDOW_CLOSED_ERROR:
        closed_at = min(at, now) if at is not None else now
        events = (EventNote(EventType.WINDOW_CLOSED, closed_at, {"error_code": error_code}),)
        p, values = replanned(
            state,
            policy,
            now,
            reminder_state=ReminderState.FAILED,
            reminder_reason=failed_reason,
            window_closed_early_at=closed_at,
        )
    else:
        p, values = replanned(state, policy, now, reminder_state=ReminderState.FAILED, reminder_reason=failed_reason)
    return Change(values, events, plan=p)


def reminder_status(state: SessionState, *, silence_t: datetime | None, status: MessageStatus) -> Change:
    """A delivery status for a reminder (R15): the session's reminder state only moves forward, and
    only for the current silence. `failed` goes through `reminder_send_outcome`."""
    if silence_t != state.last_customer_at or state.reminder_state not in REMINDER_DELIVERY_RANK:
        return NO_CHANGE
    try:
        new = ReminderState(status.value)
    except ValueError:
        return NO_CHANGE
    if REMINDER_DELIVERY_RANK.get(new, -1) <= REMINDER_DELIVERY_RANK[state.reminder_state]:
        return NO_CHANGE
    return Change({"reminder_state": new})


def policy_changed(state: SessionState, *, policy: Policy, now: datetime) -> Change:
    """R11: re-plan an active session under its channel's new policy. A pending reminder the policy
    turns off is cancelled; one it turns on whose time has passed is missed, never sent late."""
    p, values = replanned(state, policy, now, policy_changed=True)
    before = state.reminder_state
    events: tuple[EventNote, ...] = ()
    if before == ReminderState.PENDING and p.reminder_state is ReminderState.CANCELLED:
        events = (EventNote(EventType.REMINDER_CANCELLED, now, {"reason": "reminders_disabled"}),)
    elif before in (ReminderState.NONE, ReminderState.CANCELLED) and p.reminder_state is ReminderState.MISSED:
        events = (EventNote(EventType.REMINDER_SKIPPED, now, {"reason": "due_before_policy_change"}),)
    return Change(values, events, plan=p)


def closed(state: SessionState, *, now: datetime, reason: CloseReason) -> Change:
    """The session closes, by timeout (R9) or by an agent (R13): nothing is due any more and a pending
    reminder is cancelled."""
    values: SessionFields = {
        "status": SessionStatus.CLOSED,
        "closed_at": now,
        "close_reason": reason,
        "due_at": None,
        "due_kind": None,
        "claimed_until": None,
        "claimed_by": None,
    }
    events: list[EventNote] = []
    if state.reminder_state == ReminderState.PENDING:
        values["reminder_state"] = ReminderState.CANCELLED
        values["reminder_reason"] = "session_closed"
        events.append(EventNote(EventType.REMINDER_CANCELLED, now, {"reason": "session_closed"}))
    reason = CloseReason(reason)
    lag = (now - state.eligible_at).total_seconds() if reason is CloseReason.TIMEOUT else None
    events.append(
        EventNote(
            EventType.SESSION_CLOSED, now, {"reason": reason, "eligible_at": state.eligible_at, "lag_seconds": lag}
        )
    )
    return Change(values, tuple(events))

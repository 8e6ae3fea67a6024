"""The session lifecycle as pure transitions: the session's current state and what happened in, the
change to write out. No I/O: `wasession.lifecycle.session_writes` applies a `Change` (session update, events,
the reminder message to queue) in the caller's transaction.

Every transition that touches the schedule goes through `replanned`, so a written session always
carries the due time `plan` gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict, cast

from typing_extensions import Unpack

from wasession.domain.events import EventType
from wasession.domain.plan import NEW_SILENCE, Plan, plan
from wasession.domain.policy import Policy
from wasession.domain.pricing import MONTHLY_BUDGET, monthly_cap_reason
from wasession.domain.schedule import REMINDER_MIN_SPARE, step_due_at
from wasession.domain.states import (
    Awaiting,
    CloseReason,
    DueKind,
    MessageStatus,
    ReminderState,
    SessionStatus,
    reminder_skip_reason,
    render_closing,
    render_reminder,
)

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
    reminder_step: int
    snoozed_until: datetime | None


class PlanFields(TypedDict):
    """The session columns that hold its plan."""

    window_closes_at: datetime
    eligible_at: datetime
    closes_at: datetime
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    due_at: datetime | None
    due_kind: DueKind | None
    reminder_step: int


class ReplanExtra(TypedDict, total=False):
    """What a re-plan may write besides the plan: the new silence's T and the fields it resets."""

    last_customer_at: datetime
    last_message_at: datetime
    window_closed_early_at: datetime | None
    awaiting: Awaiting
    reminder_reason: str | None
    snoozed_until: datetime | None


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
    reminder_step: int = 1
    snoozed_until: datetime | None = None

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
class QueueClosing:
    """The closing message to put in the outbox as a timeout closes the session: free-form `text`, or
    the approved `template` ({name, language, parameters}) when the window has under 5 minutes left."""

    at: datetime
    text: str | None = None
    template: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Change:
    fields: SessionFields = field(default_factory=lambda: SessionFields())
    events: tuple[EventNote, ...] = ()
    reminder: QueueReminder | None = None
    plan: Plan | None = None  # the new schedule, when the change re-planned
    closing: QueueClosing | None = None

    @property
    def empty(self) -> bool:
        return not self.fields and not self.events and self.reminder is None and self.closing is None


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
        "reminder_step": p.reminder_step,
    }


def _plan_session_fields(p: Plan) -> SessionFields:
    """`plan_fields` as a change's fields, to which a change adds more. (mypy will not widen a total
    TypedDict into a partial one, even with every key in common: hence the cast.)"""
    return cast(SessionFields, dict(plan_fields(p)))


def replanned(
    state: SessionState,
    policy: Policy,
    now: datetime,
    *,
    reminder_state: ReminderState | None = None,
    policy_changed: bool = False,
    reminder_step: int | None = None,
    **extra: Unpack[ReplanExtra],
) -> tuple[Plan, SessionFields]:
    """The session's new plan and the fields that write it, `extra` included (and read by the plan
    where it moves T, the early window close, the last message, whose turn it is or the snooze).
    A new silence (NEW_SILENCE) wakes a snoozed session: the customer wrote."""
    if reminder_state is NEW_SILENCE:
        extra["snoozed_until"] = None
    p = plan(
        last_customer_at=extra.get("last_customer_at", state.last_customer_at),
        policy=policy,
        reminder_state=reminder_state if reminder_state is not None else state.reminder_state,
        now=now,
        window_closed_early_at=extra.get("window_closed_early_at", state.window_closed_early_at),
        policy_changed=policy_changed,
        reminder_step=reminder_step if reminder_step is not None else state.reminder_step,
        last_message_at=extra.get("last_message_at", state.last_message_at),
        awaiting=extra.get("awaiting", state.awaiting),
        snoozed_until=extra.get("snoozed_until", state.snoozed_until),
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
    if "snoozed_until" in extra:
        values["snoozed_until"] = extra["snoozed_until"]
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


def _new_silence(state: SessionState, policy: Policy, now: datetime, at: datetime) -> tuple[Plan, SessionFields]:
    """A window-opening customer message at `at` > T: T moves, the ladder restarts, the agent is awaited."""
    return replanned(
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


def customer_wrote(
    state: SessionState, *, at: datetime, policy: Policy, now: datetime, wamid: str, message_type: str
) -> Change:
    """A window-opening message at T' on an active session: a new silence if T' > T (R3), else a late
    message that keeps its place in the transcript and moves nothing (R5)."""
    if at <= state.last_customer_at:
        return Change(events=(EventNote(EventType.CUSTOMER_MESSAGE, at, {"wamid": wamid, "late": True}),))
    p, values = _new_silence(state, policy, now, at)
    return Change(values, (_customer_event(p, at, wamid, message_type),), plan=p)


def reopens(
    state: SessionState, *, close_reason: CloseReason | None, closed_at: datetime | None, at: datetime, policy: Policy
) -> bool:
    """`reopen_within` (issue 13): a customer message this soon after a *timeout* closure reopens it."""
    return (
        not state.active
        and close_reason == CloseReason.TIMEOUT
        and closed_at is not None
        and policy.reopen_within > timedelta(0)
        and closed_at <= at <= closed_at + policy.reopen_within
    )


def reopened_by_customer(
    state: SessionState,
    *,
    at: datetime,
    closed_at: datetime,
    policy: Policy,
    now: datetime,
    wamid: str,
    message_type: str,
) -> Change:
    """The customer wrote at `at`, soon enough after a timeout closure: the session is active again with
    its transcript, and a new silence begins (instead of a new session, R12). An agent's reopening,
    which moves no T, is `domain.reopen.reopened`; both record `session_reopened` with the same keys."""
    p, values = _new_silence(state, policy, now, at)
    values["status"] = SessionStatus.ACTIVE
    values["closed_at"] = None
    values["close_reason"] = None
    data = {
        "by": "customer",
        "wamid": wamid,
        "closed_at": closed_at,
        "window_closes_at": p.window_closes_at,
        "closes_at": p.closes_at,
    }
    reopen = EventNote(EventType.SESSION_REOPENED, at, data)
    return Change(values, (reopen, _customer_event(p, at, wamid, message_type)), plan=p)


def agent_wrote(state: SessionState, now: datetime, policy: Policy | None = None) -> Change:
    """A human agent's message or template queued: the customer's turn. It never moves T or the window
    (R8), nor the timeout unless the policy counts it from the last message (`timeout_from`), and it
    ends a hold (`hold_while_awaiting_agent`). A closed session keeps its fields."""
    if not state.active:
        return NO_CHANGE
    if policy is None:
        return Change({"awaiting": Awaiting.CUSTOMER, "last_message_at": max(now, state.last_message_at)})
    p, values = replanned(
        state, policy, now, awaiting=Awaiting.CUSTOMER, last_message_at=max(now, state.last_message_at)
    )
    return Change(values, plan=p)


def overdue_steps(state: SessionState, policy: Policy, now: datetime) -> list[int]:
    """The ladder steps from the session's current one whose time has come, in order."""
    p = plan(
        last_customer_at=state.last_customer_at,
        policy=policy,
        reminder_state=ReminderState.PENDING,
        now=now,
        window_closed_early_at=state.window_closed_early_at,
        last_message_at=state.last_message_at,
        awaiting=state.awaiting,
        snoozed_until=state.snoozed_until,
    )
    found = []
    for step in range(max(state.reminder_step, 1), len(policy.ladder) + 1):
        due = step_due_at(state.last_customer_at, policy, step, window=p.window_closes_at, closing=p.closes_at)
        if due <= now:
            found.append(step)
    return found


def _after_step(state: SessionState, policy: Policy, step: int, handled: ReminderState) -> tuple[ReminderState, int]:
    """The reminder state once `step` is dealt with: the next step pending, or `handled` after the last."""
    if step < len(policy.ladder):
        return ReminderState.PENDING, step + 1
    return handled, step


def reminder_due(
    state: SessionState,
    *,
    policy: Policy,
    now: datetime,
    merge_values: Callable[[], Mapping[str, str]],
    automated_this_month: int | None = None,
    over_budget: bool = False,
) -> Change:
    """The session's pending ladder step is due: queue it, or skip it with the reason (R6, R7), and
    plan the next step. Each step at most once per silence. After downtime (R14) several steps may be
    overdue: only the latest goes through the gate, the earlier ones are skipped as `superseded`.

    `merge_values` gives the contact's merge fields; it is called only when the reminder would go out.
    `automated_this_month` is the channel's automated sends this month, for the cap (R23); `over_budget`
    says the send's estimated cost would pass `automated_monthly_budget` (R23)."""
    steps = overdue_steps(state, policy, now) or [state.reminder_step]
    step = steps[-1]
    events = [EventNote(EventType.REMINDER_SKIPPED, now, {"reason": "superseded", "step": n}) for n in steps[:-1]]
    reason = reminder_skip_reason(
        now=now,
        policy=policy,
        session_active=state.active,
        last_customer_at=state.last_customer_at,
        silence_started_at=state.last_customer_at,
        window_closes_at=state.window_closes_at,
        awaiting=state.awaiting,
        automated_this_month=automated_this_month,
        over_budget=over_budget,
    )
    text = ""
    if reason is None:
        text, reason = render_reminder(policy, dict(merge_values()), step)
    due = {"due_at": state.reminder_due_at, "step": step}
    if reason is not None:
        after, next_step = _after_step(state, policy, step, ReminderState.SKIPPED)
        p, values = replanned(state, policy, now, reminder_state=after, reminder_step=next_step, reminder_reason=reason)
        events.append(EventNote(EventType.REMINDER_SKIPPED, now, {"reason": reason, **due}))
        return Change(values, tuple(events), plan=p)
    after, next_step = _after_step(state, policy, step, ReminderState.QUEUED)
    p, values = replanned(state, policy, now, reminder_state=after, reminder_step=next_step, reminder_reason=None)
    events.append(EventNote(EventType.REMINDER_QUEUED, now, due, names_message=True))
    return Change(values, tuple(events), QueueReminder(text, state.last_customer_at, now), plan=p)


def snoozed(state: SessionState, *, until: datetime, policy: Policy, now: datetime) -> Change:
    """An agent snoozes the session until `until`: no reminder and no automatic closure before then."""
    p, values = replanned(state, policy, now, snoozed_until=until)
    return Change(values, (EventNote(EventType.SESSION_SNOOZED, now, {"until": until}),), plan=p)


def woke(state: SessionState, *, policy: Policy, now: datetime, early: bool) -> Change:
    """The snooze ends (its time came, or an agent woke it early): the timeout counts again from now
    (eligible at the later of T + timeout and now + timeout), and steps whose time passed are skipped."""
    events = [EventNote(EventType.SESSION_WOKE, now, {"early": early, "snoozed_until": state.snoozed_until})]
    awake = replace(state, snoozed_until=now)
    reminder_state, step = state.reminder_state, state.reminder_step
    extra: ReplanExtra = {"snoozed_until": now}
    if reminder_state == ReminderState.PENDING:
        passed = overdue_steps(awake, policy, now)
        events += [EventNote(EventType.REMINDER_SKIPPED, now, {"reason": "snoozed", "step": n}) for n in passed]
        if passed:
            reminder_state, step = _after_step(awake, policy, passed[-1], ReminderState.SKIPPED)
            extra["reminder_reason"] = "snoozed"  # what the list, the page and the API say of it
    p, values = replanned(awake, policy, now, reminder_state=reminder_state, reminder_step=step, **extra)
    return Change(values, tuple(events), plan=p)


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
    if state.reminder_state == ReminderState.PENDING and state.active:
        # The ladder has moved on to its next step: an earlier step's outcome leaves that step alone,
        # but a 131047 failure still closes the window early, where the gate skips the next step.
        if outcome is not SendOutcome.FAILED or error_code != WINDOW_CLOSED_ERROR:
            return NO_CHANGE
        closed_at = min(at, now) if at is not None else now
        p, values = replanned(state, policy, now, window_closed_early_at=closed_at)
        return Change(values, (EventNote(EventType.WINDOW_CLOSED, closed_at, {"error_code": error_code}),), plan=p)
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


def closing_message(
    state: SessionState,
    *,
    policy: Policy,
    now: datetime,
    merge_values: Callable[[], Mapping[str, str]],
    automated_this_month: int | None = None,
    over_budget: bool = False,
    template_blocked: str | None = None,
) -> tuple[QueueClosing | None, EventNote | None]:
    """What a timeout closure sends (issue 13): `closing_message` while the window has at least 5 minutes
    left, else `closing_template`; neither possible is recorded skipped with the reason. Nothing when
    both are off. It is an automated send: it never counts as agent activity, and the monthly cap
    (R23) counts it like a reminder."""
    if not policy.closing_message.strip() and policy.closing_template is None:
        return None, None
    capped = monthly_cap_reason(policy.automated_monthly_cap, automated_this_month or 0)
    if automated_this_month is not None and capped is not None:
        return None, EventNote(EventType.CLOSING_MESSAGE_SKIPPED, now, {"reason": capped})
    if over_budget:
        return None, EventNote(EventType.CLOSING_MESSAGE_SKIPPED, now, {"reason": MONTHLY_BUDGET})
    reason = "window_closed"
    if policy.closing_message.strip() and state.window_closes_at - now >= REMINDER_MIN_SPARE:
        text, refused = render_closing(policy, dict(merge_values()))
        if refused is None:
            note = EventNote(EventType.CLOSING_MESSAGE_QUEUED, now, {"type": "text"}, names_message=True)
            return QueueClosing(now, text=text), note
        reason = refused
    if policy.closing_template is not None and template_blocked is not None:
        return None, EventNote(EventType.CLOSING_MESSAGE_SKIPPED, now, {"reason": template_blocked})  # R24
    if policy.closing_template is not None:
        template = {**policy.closing_template.to_public(), "parameters": []}
        data = {"type": "template", "name": policy.closing_template.name}
        note = EventNote(EventType.CLOSING_MESSAGE_QUEUED, now, data, names_message=True)
        return QueueClosing(now, template=template), note
    return None, EventNote(EventType.CLOSING_MESSAGE_SKIPPED, now, {"reason": reason})


def closed(
    state: SessionState,
    *,
    now: datetime,
    reason: CloseReason,
    policy: Policy | None = None,
    merge_values: Callable[[], Mapping[str, str]] | None = None,
    automated_this_month: int | None = None,
    over_budget: bool = False,
    template_blocked: str | None = None,
) -> Change:
    """The session closes, by timeout (R9) or by an agent (R13): nothing is due any more and a pending
    reminder is cancelled. A timeout closure given the policy sends its closing message, if any
    (`automated_this_month`: the channel's count for the cap, R23)."""
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
    closing = None
    if reason is CloseReason.TIMEOUT and policy is not None and merge_values is not None:
        closing, note = closing_message(
            state,
            policy=policy,
            now=now,
            merge_values=merge_values,
            automated_this_month=automated_this_month,
            over_budget=over_budget,
            template_blocked=template_blocked,
        )
        if note is not None:
            events.append(note)
    return Change(values, tuple(events), closing=closing)

"""A session's next action, from its last customer message T, the policy and its reminder state.

Every write to a session goes through `plan`, so the stored due time is always the earliest of the
pending reminder (R6) and the closure tick (R9), and the engine only ever reads rows that are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wasession.domain.policy import Policy
from wasession.domain.schedule import closes_after, step_due_at, timeout_eligible_at, window_closes_at
from wasession.domain.states import Awaiting, DueKind, ReminderState

# A reminder in one of these states has been dealt with for this silence (at most once, R6).
HANDLED_REMINDER_STATES: frozenset[ReminderState] = frozenset(
    {
        ReminderState.QUEUED,
        ReminderState.SENT,
        ReminderState.DELIVERED,
        ReminderState.READ,
        ReminderState.FAILED,
        ReminderState.UNKNOWN,
        ReminderState.SKIPPED,
    }
)
NEW_SILENCE = ReminderState.NEW


@dataclass(frozen=True)
class Plan:
    window_closes_at: datetime
    eligible_at: datetime
    closes_at: datetime
    reminder_state: ReminderState
    reminder_due_at: datetime | None
    due_at: datetime | None  # None: nothing is due (a held session with no step ahead)
    due_kind: DueKind | None
    reminder_step: int = 1  # the ladder step reminder_state and reminder_due_at are about


def is_held(policy: Policy, awaiting: Awaiting) -> bool:
    """`hold_while_awaiting_agent`: the customer's latest message has no human agent reply yet."""
    return policy.hold_while_awaiting_agent and awaiting == Awaiting.AGENT


def is_snoozed(snoozed_until: datetime | None, now: datetime) -> bool:
    return snoozed_until is not None and snoozed_until > now


def plan(
    *,
    last_customer_at: datetime,
    policy: Policy,
    reminder_state: ReminderState,
    now: datetime,
    window_closed_early_at: datetime | None = None,
    policy_changed: bool = False,
    reminder_step: int = 1,
    last_message_at: datetime | None = None,
    awaiting: Awaiting = Awaiting.AGENT,
    snoozed_until: datetime | None = None,
) -> Plan:
    """Recompute a session's schedule.

    reminder_state NEW_SILENCE means the customer just wrote: the ladder restarts at step 1, planned
    even when its due time is already past (a late webhook), because R6 decides at sending time. On a
    policy change (R11) the first step of the new ladder still ahead becomes pending (steps already
    handled are never sent again); none ahead makes it "missed", and turning reminders off cancels a
    pending one. While snoozed only the wake is due; a held session is never due to close.
    """
    window = window_closes_at(last_customer_at)
    if window_closed_early_at is not None:
        window = min(window, window_closed_early_at)
    eligible = timeout_eligible_at(
        last_customer_at, policy, last_message_at=last_message_at or last_customer_at, snoozed_until=snoozed_until
    )
    closing = closes_after(eligible, policy)
    ladder = policy.ladder

    def due(step: int) -> datetime:
        return step_due_at(last_customer_at, policy, step, window=window, closing=closing)

    # The engine hands the enum itself; calling the Enum costs more than the rest of this line.
    state = reminder_state if type(reminder_state) is ReminderState else ReminderState(reminder_state)
    step = reminder_step
    if state is NEW_SILENCE:
        state, step = (ReminderState.PENDING if ladder else ReminderState.NONE), 1
    elif state not in HANDLED_REMINDER_STATES and policy_changed:
        ahead = [n for n in range(max(step, 1), len(ladder) + 1) if due(n) >= now]
        if ahead:
            state, step = ReminderState.PENDING, ahead[0]
        elif not ladder:
            state = ReminderState.CANCELLED if state is ReminderState.PENDING else state
        else:
            state = ReminderState.MISSED
    pending = state is ReminderState.PENDING and 0 < step <= len(ladder)
    due_reminder = due(step) if pending else None

    if is_snoozed(snoozed_until, now):
        assert snoozed_until is not None
        return Plan(window, eligible, closing, state, due_reminder, snoozed_until, DueKind.WAKE, step)
    held = is_held(policy, awaiting)
    if due_reminder is not None and (due_reminder < closing or held):
        return Plan(window, eligible, closing, state, due_reminder, due_reminder, DueKind.REMIND, step)
    if held:
        return Plan(window, eligible, closing, state, due_reminder, None, None, step)
    return Plan(window, eligible, closing, state, due_reminder, closing, DueKind.CLOSE, step)


@dataclass(frozen=True)
class ReminderStatus:
    """Where a session's reminder stands, the one answer the chat list, the session page and the API
    give (issue 23: a snoozed or reopened chat told two stories). `state` is "scheduled" (goes out at
    `at`), "snoozed" (the step falls inside the snooze ending at `at`, so the wake skips it), "none",
    or a stored ReminderState past pending (queued, sent, delivered, read, failed, unknown, skipped,
    cancelled, missed). `reason` says why, for the states that have one."""

    state: str
    step: int | None = None
    at: datetime | None = None
    reason: str | None = None


# The stored states whose reason is worth showing; another state's leftover reason is stale.
_WITH_REASON = frozenset({ReminderState.SKIPPED, ReminderState.CANCELLED, ReminderState.FAILED, ReminderState.MISSED})


def reminder_status(
    *,
    active: bool,
    reminder_state: ReminderState,
    reminder_step: int,
    reminder_due_at: datetime | None,
    reminder_reason: str | None,
    snoozed_until: datetime | None,
    closes_at: datetime,
    held: bool,
    policy: Policy,
    now: datetime,
) -> ReminderStatus:
    """The reminder's status as every face shows it. A pending step is "scheduled" only where it will
    really go out: not on a closed session, not inside a snooze (the wake skips it), not after the
    closure that ends the session first (unless held), and with its reason when business hours will
    skip it (`step_due_at` already moved it to the opening where it fits)."""
    state = ReminderState(reminder_state)
    if state is ReminderState.PENDING:
        if reminder_due_at is None:
            return ReminderStatus("none")
        if not active:
            return ReminderStatus(ReminderState.CANCELLED, reminder_step, None, "session_closed")
        if is_snoozed(snoozed_until, now) and snoozed_until is not None and reminder_due_at < snoozed_until:
            return ReminderStatus("snoozed", reminder_step, snoozed_until, "snoozed")
        if reminder_due_at >= closes_at and not held:
            return ReminderStatus("none", reminder_step, None, "closes_first")
        hours = policy.business_hours
        shut = not hours.always_open and not hours.is_open(reminder_due_at, policy.timezone)
        return ReminderStatus("scheduled", reminder_step, reminder_due_at, "outside_business_hours" if shut else None)
    if state in (ReminderState.NONE, ReminderState.NEW):
        return ReminderStatus("none")
    return ReminderStatus(state, reminder_step, None, reminder_reason if state in _WITH_REASON else None)

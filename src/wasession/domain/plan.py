"""A session's next action, from its last customer message T, the policy and its reminder state.

Every write to a session goes through `plan`, so the stored due time is always the earliest of the
pending reminder (R6) and the closure tick (R9), and the engine only ever reads rows that are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wasession.domain.lifecycle import DueKind, ReminderState
from wasession.domain.policy import Policy
from wasession.domain.schedule import closes_at, eligible_at, reminder_due_at, window_closes_at

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
    due_at: datetime
    due_kind: DueKind


def plan(
    *,
    last_customer_at: datetime,
    policy: Policy,
    reminder_state: ReminderState,
    now: datetime,
    window_closed_early_at: datetime | None = None,
    policy_changed: bool = False,
) -> Plan:
    """Recompute a session's schedule.

    reminder_state NEW_SILENCE means the customer just wrote: a reminder is planned if enabled, even
    when its due time is already past (a late webhook), because R6 decides at sending time. On a
    policy change (R11) a reminder whose due time has passed becomes "missed" instead of being sent,
    and turning reminders off cancels a pending one.
    """
    window = window_closes_at(last_customer_at)
    if window_closed_early_at is not None:
        window = min(window, window_closed_early_at)
    eligible = eligible_at(last_customer_at, policy)
    closing = closes_at(last_customer_at, policy)
    due_reminder = reminder_due_at(last_customer_at, policy)

    state = ReminderState(reminder_state)
    if state is NEW_SILENCE:
        state = ReminderState.PENDING if due_reminder is not None else ReminderState.NONE
    elif state not in HANDLED_REMINDER_STATES and policy_changed:
        if due_reminder is None:
            state = ReminderState.CANCELLED if state is ReminderState.PENDING else state
        else:
            state = ReminderState.PENDING if due_reminder >= now else ReminderState.MISSED

    pending = state is ReminderState.PENDING
    if pending and due_reminder is not None and due_reminder < closing:
        return Plan(window, eligible, closing, state, due_reminder, due_reminder, DueKind.REMIND)
    return Plan(window, eligible, closing, state, due_reminder if pending else None, closing, DueKind.CLOSE)

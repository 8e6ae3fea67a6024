"""When things fall due for a session, measured from T, its last customer message (R3, R6, R9, R10).

All inputs and outputs are aware UTC datetimes; the channel's time zone matters only for where
interval check ticks fall (R9), which are laid out on its wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from wasession.domain.localtime import earliest_wall_reaching, wall_to_utc, zone
from wasession.domain.policy import Policy

WINDOW = timedelta(hours=24)  # WhatsApp's customer service window
REMINDER_MIN_SPARE = timedelta(minutes=5)
FUTURE_SKEW = timedelta(minutes=5)
_DAY = timedelta(days=1)
_RESOLUTION = timedelta(microseconds=1)  # the smallest step a datetime can take


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware; got naive {value.isoformat()}")


def window_closes_at(last_customer_at: datetime) -> datetime:
    return last_customer_at + WINDOW


def eligible_at(last_customer_at: datetime, policy: Policy) -> datetime:
    return last_customer_at + policy.session_timeout


def next_tick(at: datetime, interval: timedelta, anchor: time, tz: str) -> datetime:
    """The first closure-check tick at or after `at`.

    Each local day D has ticks at wall times D@anchor + k × interval while before (D+1)@anchor, so
    an interval that does not divide 24 h restarts at the anchor every day. Ticks that DST folds onto
    the same instant count as one.
    """
    _aware("at", at)
    if interval <= timedelta(0):
        raise ValueError(f"interval must be positive; got {interval}")
    zi = zone(tz)
    wall = earliest_wall_reaching(at, zi)
    anchor = anchor.replace(tzinfo=None)
    day = wall.date() if wall.time() >= anchor else wall.date() - _DAY
    start = datetime.combine(day, anchor)
    steps = -((start - wall) // interval)  # ceil: the first step not before `wall`
    tick = min(start + steps * interval, start + _DAY)
    return wall_to_utc(tick, zi)


def closes_at(last_customer_at: datetime, policy: Policy) -> datetime:
    """When the session is closed: at eligibility (exact), or at the first check tick after it.

    "After" is strict: a check closes sessions that have been silent for longer than the timeout, so
    one that becomes eligible exactly on a tick waits for the next. That is what R9's worked example
    needs: ticks at 03:00 and 15:00, eligible Tuesday 15:00, closed at the 03:00 Wednesday tick.
    """
    return closes_after(eligible_at(last_customer_at, policy), policy)


def closes_after(eligible: datetime, policy: Policy) -> datetime:
    """`closes_at` for a session eligible at `eligible` (however its timeout was counted)."""
    if policy.closure_check is None:
        return eligible
    interval, anchor = policy.closure_check, policy.closure_check_anchor
    return next_tick(eligible + _RESOLUTION, interval, anchor, policy.timezone)


def timeout_eligible_at(
    last_customer_at: datetime, policy: Policy, *, last_message_at: datetime, snoozed_until: datetime | None
) -> datetime:
    """R9 as policy v2 counts it: from T, or from the later of T and the last human agent message
    (`timeout_from: last_message`; `last_message_at` never moves for automated sends); a snooze ending
    after T restarts the count at its end (eligible at the later of both)."""
    start = max(last_customer_at, last_message_at) if policy.timeout_from == "last_message" else last_customer_at
    eligible = start + policy.session_timeout
    if snoozed_until is not None and snoozed_until > last_customer_at:
        eligible = max(eligible, snoozed_until + policy.session_timeout)
    return eligible


def reminder_due_at(last_customer_at: datetime, policy: Policy) -> datetime | None:
    """The first step's due time (None when reminders are off)."""
    ladder = policy.ladder
    return last_customer_at + ladder[0].offset if ladder else None


def step_due_at(
    last_customer_at: datetime, policy: Policy, step: int, *, window: datetime, closing: datetime
) -> datetime:
    """When ladder step `step` (1-based) goes out: T + its offset, or, when that is outside business
    hours, the next opening if it still lands at least 5 minutes before the window closes and before
    the closure. Otherwise its own time, where the gate skips it (`outside_business_hours`)."""
    due = last_customer_at + policy.ladder[step - 1].offset
    hours = policy.business_hours
    if hours.always_open or hours.is_open(due, policy.timezone):
        return due
    opening = hours.next_opening(due, policy.timezone)
    if opening is not None and opening <= window - REMINDER_MIN_SPARE and opening < closing:
        return opening
    return due


def effective_timestamp(message_ts: datetime, arrival: datetime) -> datetime:
    """R3: trust WhatsApp's timestamp unless it is implausibly far in the future of our clock."""
    return arrival if message_ts > arrival + FUTURE_SKEW else message_ts


@dataclass(frozen=True)
class ReminderCheck:
    send: bool
    reason: str | None  # None when send


def check_reminder(
    *,
    now: datetime,
    policy: Policy,
    session_active: bool,
    last_customer_at: datetime,
    silence_started_at: datetime,
    reminder_already_handled: bool,
) -> ReminderCheck:
    """R6, decided at sending time; the first failing condition is the recorded skip reason."""
    if not policy.reminder_enabled:
        return ReminderCheck(False, "disabled")
    if not session_active:
        return ReminderCheck(False, "not_active")
    if last_customer_at > silence_started_at:
        return ReminderCheck(False, "customer_replied")
    if reminder_already_handled:
        return ReminderCheck(False, "already_handled")
    spare = window_closes_at(last_customer_at) - now
    if spare <= timedelta(0):
        return ReminderCheck(False, "window_closed")
    if spare < REMINDER_MIN_SPARE:
        return ReminderCheck(False, "window_closing")
    return ReminderCheck(True, None)

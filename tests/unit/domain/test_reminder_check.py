"""R6 at sending time: send only while enabled, active, still silent, unhandled, with 5 minutes to spare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wasession.domain.policy import Policy, validate_policy
from wasession.domain.schedule import REMINDER_MIN_SPARE, ReminderCheck, check_reminder

T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
ON = validate_policy({"reminder_enabled": True, "reminder_after_hours": 23})
CLOSE = T + timedelta(hours=24)


def check(
    *,
    now: datetime = T + timedelta(hours=23),
    policy: Policy = ON,
    session_active: bool = True,
    last_customer_at: datetime = T,
    silence_started_at: datetime = T,
    reminder_already_handled: bool = False,
) -> ReminderCheck:
    return check_reminder(
        now=now,
        policy=policy,
        session_active=session_active,
        last_customer_at=last_customer_at,
        silence_started_at=silence_started_at,
        reminder_already_handled=reminder_already_handled,
    )


def test_sends_when_everything_allows_it() -> None:
    assert timedelta(minutes=5) == REMINDER_MIN_SPARE
    assert check() == ReminderCheck(True, None)


@pytest.mark.parametrize(
    ("now", "send", "reason"),
    [
        (CLOSE - timedelta(hours=1), True, None),
        (CLOSE - REMINDER_MIN_SPARE, True, None),  # exactly five minutes to spare is enough
        (CLOSE - REMINDER_MIN_SPARE + timedelta(microseconds=1), False, "window_closing"),
        (CLOSE - timedelta(seconds=1), False, "window_closing"),
        (CLOSE, False, "window_closed"),
        (CLOSE + timedelta(days=2), False, "window_closed"),  # after downtime (R14)
    ],
)
def test_window_boundaries(now: datetime, send: bool, reason: str | None) -> None:
    assert check(now=now) == ReminderCheck(send, reason)


def test_each_reason() -> None:
    assert check(policy=Policy()) == ReminderCheck(False, "disabled")
    assert check(session_active=False) == ReminderCheck(False, "not_active")
    assert check(last_customer_at=T + timedelta(hours=2)) == ReminderCheck(False, "customer_replied")
    assert check(reminder_already_handled=True) == ReminderCheck(False, "already_handled")


def test_a_new_silence_allows_a_new_reminder() -> None:
    later = T + timedelta(hours=20)
    assert check(now=later + timedelta(hours=23), last_customer_at=later, silence_started_at=later).send


def test_reasons_are_checked_in_order() -> None:
    late, replied = CLOSE + timedelta(hours=1), T + timedelta(hours=1)
    assert check(policy=Policy(), session_active=False, last_customer_at=replied, now=late).reason == "disabled"
    assert check(session_active=False, last_customer_at=replied, now=late).reason == "not_active"
    assert check(last_customer_at=replied, reminder_already_handled=True, now=late).reason == "customer_replied"
    assert check(reminder_already_handled=True, now=late).reason == "already_handled"

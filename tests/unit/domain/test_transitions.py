"""The lifecycle's pure transitions: each takes a session's state and what happened, and says what to write."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasession.domain.plan import HANDLED_REMINDER_STATES, plan
from wasession.domain.policy import Policy, validate_policy
from wasession.domain.states import (
    Awaiting,
    CloseReason,
    DueKind,
    MessageStatus,
    ReminderState,
    SessionStatus,
    render_reminder,
)
from wasession.domain.transitions import (
    NO_CHANGE,
    SendOutcome,
    SessionState,
    agent_wrote,
    closed,
    customer_wrote,
    opened,
    policy_changed,
    reminder_due,
    reminder_send_outcome,
    reminder_status,
)

T = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
ON = validate_policy({"reminder_enabled": True, "reminder_after_hours": 2, "session_timeout": "48h"})
OFF = validate_policy({"reminder_enabled": False, "session_timeout": "48h"})
VALUES = {"contact_firstname": "Ana"}


def state(policy: Policy = ON, *, t: datetime = T, now: datetime = T, **changes: object) -> SessionState:
    """An active session whose customer last wrote at `t`, planned under `policy` at `now`."""
    p = plan(last_customer_at=t, policy=policy, reminder_state=ReminderState.NEW, now=now)
    s = SessionState(
        status=SessionStatus.ACTIVE,
        last_customer_at=t,
        last_message_at=t,
        window_closes_at=p.window_closes_at,
        window_closed_early_at=None,
        eligible_at=p.eligible_at,
        closes_at=p.closes_at,
        reminder_state=p.reminder_state,
        reminder_due_at=p.reminder_due_at,
    )
    return replace(s, **changes)  # type: ignore[arg-type]


def apply_fields(s: SessionState, fields: dict[str, object]) -> SessionState:
    """The state after writing `fields` (only the columns SessionState holds)."""
    known = {k: v for k, v in fields.items() if k in SessionState.__dataclass_fields__}
    return replace(s, **known)  # type: ignore[arg-type]


# -- opened and customer wrote (R2, R3, R5) ---------------------------------------------------------


def test_opened_sets_t_and_plans_the_reminder() -> None:
    change = opened(at=T, policy=ON, now=T, wamid="wamid.1", message_type="text")
    assert change.fields["status"] is SessionStatus.ACTIVE
    assert change.fields["last_customer_at"] == T
    assert change.fields["awaiting"] is Awaiting.AGENT
    assert change.fields["reminder_state"] is ReminderState.PENDING
    assert change.fields["due_kind"] is DueKind.REMIND
    assert [e.type for e in change.events] == ["session_opened", "customer_message"]
    assert change.events[1].data["reminder_due_at"] == T + timedelta(hours=2)


def test_customer_writing_later_starts_a_new_silence() -> None:
    s = state(reminder_state=ReminderState.SENT, awaiting=Awaiting.CUSTOMER, window_closed_early_at=T)
    later = T + timedelta(hours=3)
    change = customer_wrote(s, at=later, policy=ON, now=later, wamid="wamid.2", message_type="text")
    assert change.fields["last_customer_at"] == later
    assert change.fields["reminder_state"] is ReminderState.PENDING  # a new silence earns a new reminder
    assert change.fields["reminder_reason"] is None
    assert change.fields["window_closed_early_at"] is None
    assert change.fields["window_closes_at"] == later + timedelta(hours=24)
    assert change.fields["awaiting"] is Awaiting.AGENT
    assert [(e.type, e.at) for e in change.events] == [("customer_message", later)]
    assert "late" not in change.events[0].data


@pytest.mark.parametrize("at", [T, T - timedelta(minutes=1)])
def test_a_message_not_after_t_is_late_and_moves_nothing(at: datetime) -> None:
    change = customer_wrote(state(), at=at, policy=ON, now=T + timedelta(hours=1), wamid="w", message_type="text")
    assert change.fields == {}
    assert [(e.type, e.at, e.data["late"]) for e in change.events] == [("customer_message", at, True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-3 * 3600, max_value=3 * 3600), min_size=1, max_size=12))
def test_t_never_moves_back(offsets: list[int]) -> None:
    s = state()
    now = T
    for offset in offsets:
        at = T + timedelta(seconds=offset)
        now = max(now, at)
        before = s.last_customer_at
        s = apply_fields(s, dict(customer_wrote(s, at=at, policy=ON, now=now, wamid="w", message_type="text").fields))
        assert s.last_customer_at == max(before, at)
    assert s.last_customer_at == max(T, *(T + timedelta(seconds=o) for o in offsets))


def test_agent_writing_hands_the_turn_to_the_customer_without_moving_t() -> None:
    s = state()
    change = agent_wrote(s, T + timedelta(minutes=5))
    assert change.fields == {"awaiting": Awaiting.CUSTOMER, "last_message_at": T + timedelta(minutes=5)}
    assert agent_wrote(replace(s, status=SessionStatus.CLOSED), T) is NO_CHANGE


# -- reminder due (R6, R7) --------------------------------------------------------------------------


def test_a_due_reminder_is_queued_with_its_text() -> None:
    s = state()
    now = T + timedelta(hours=2)
    change = reminder_due(s, policy=ON, now=now, merge_values=lambda: VALUES)
    assert change.fields["reminder_state"] is ReminderState.QUEUED
    assert change.fields["reminder_reason"] is None
    assert change.fields["due_kind"] is DueKind.CLOSE  # nothing more to remind of in this silence
    assert change.reminder is not None and change.reminder.silence_t == T and change.reminder.at == now
    assert change.reminder.text == render_reminder(ON, VALUES)[0]
    assert [(e.type, e.names_message, e.data["due_at"]) for e in change.events] == [
        ("reminder_queued", True, T + timedelta(hours=2))
    ]


def test_a_reminder_too_close_to_the_window_end_is_skipped_without_reading_the_contact() -> None:
    s = state()

    def never() -> dict[str, str]:
        raise AssertionError("the contact is read only for a reminder that would go out")

    change = reminder_due(s, policy=ON, now=T + timedelta(hours=23, minutes=56), merge_values=never)
    assert change.reminder is None
    assert change.fields["reminder_state"] is ReminderState.SKIPPED
    assert change.fields["reminder_reason"] == change.events[0].data["reason"]
    assert change.events[0].type == "reminder_skipped"


def test_a_reminder_that_renders_empty_is_skipped() -> None:
    policy = validate_policy(
        {"reminder_enabled": True, "reminder_after_hours": 2, "reminder_template": "{contact_firstname}"}
    )
    now = T + timedelta(hours=2)
    change = reminder_due(state(policy), policy=policy, now=now, merge_values=lambda: {"contact_firstname": ""})
    assert change.reminder is None
    assert change.fields["reminder_reason"] == "rendered_empty"


def test_a_reminder_of_a_closed_window_is_skipped() -> None:
    s = state(window_closes_at=T + timedelta(hours=2))  # a 131047 closed it early
    change = reminder_due(s, policy=ON, now=T + timedelta(hours=2), merge_values=lambda: VALUES)
    assert change.reminder is None
    assert change.fields["reminder_state"] is ReminderState.SKIPPED


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["due", "sent", "status", "policy"]), st.integers(min_value=0, max_value=30 * 60)),
        max_size=10,
    )
)
def test_at_most_one_reminder_per_silence(steps: list[tuple[str, int]]) -> None:
    """Whatever follows within one silence, the reminder is queued at most once: once it leaves
    `pending` for a handled state, no transition brings it back."""
    s = state()
    now = T + timedelta(hours=2)
    queued = 0
    for kind, seconds in steps:
        now += timedelta(seconds=seconds)
        if kind == "due":
            if s.reminder_state != ReminderState.PENDING:
                continue  # the due worker acts only on a pending reminder
            change = reminder_due(s, policy=ON, now=now, merge_values=lambda: VALUES)
            queued += change.reminder is not None
        elif kind == "sent":
            change = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.SENT, policy=ON, now=now)
        elif kind == "status":
            change = reminder_status(s, silence_t=T, status=MessageStatus.DELIVERED)
        else:
            change = policy_changed(s, policy=ON, now=now)
        before = s.reminder_state
        s = apply_fields(s, dict(change.fields))
        if before in HANDLED_REMINDER_STATES:
            assert s.reminder_state in HANDLED_REMINDER_STATES
    assert queued <= 1


# -- the send's outcome and delivery statuses (R15) ------------------------------------------------


def test_send_outcomes_of_the_current_silence() -> None:
    s = state(reminder_state=ReminderState.QUEUED)
    now = T + timedelta(hours=2)
    sent = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.SENT, policy=ON, now=now)
    assert sent.fields == {"reminder_state": ReminderState.SENT}
    unknown = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.UNKNOWN, policy=ON, now=now)
    assert unknown.fields == {"reminder_state": ReminderState.UNKNOWN}
    skipped = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.SKIPPED, policy=ON, now=now, reason="r")
    assert skipped.fields == {"reminder_state": ReminderState.SKIPPED, "reminder_reason": "r"}
    failed = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.FAILED, policy=ON, now=now, error_code=131026)
    assert failed.fields["reminder_state"] is ReminderState.FAILED
    assert failed.fields["reminder_reason"] == "error 131026"
    assert failed.fields["window_closes_at"] == T + timedelta(hours=24)
    assert failed.events == ()


def test_an_outcome_for_an_older_silence_changes_nothing() -> None:
    s = state(reminder_state=ReminderState.PENDING)
    for outcome in SendOutcome:
        change = reminder_send_outcome(
            s, silence_t=T - timedelta(hours=1), outcome=outcome, policy=ON, now=T, error_code=131047
        )
        assert change is NO_CHANGE


def test_131047_closes_the_window_early_at_the_failure() -> None:
    s = state(reminder_state=ReminderState.SENT)
    failed_at = T + timedelta(hours=2, seconds=1)
    now = failed_at + timedelta(seconds=4)
    change = reminder_send_outcome(
        s, silence_t=T, outcome=SendOutcome.FAILED, policy=ON, now=now, at=failed_at, error_code=131047
    )
    assert change.fields["window_closed_early_at"] == failed_at
    assert change.fields["window_closes_at"] == failed_at
    assert change.fields["reminder_reason"] == "error 131047"
    assert [(e.type, e.at, e.data) for e in change.events] == [("window_closed", failed_at, {"error_code": 131047})]


def test_a_failure_on_a_closed_session_only_marks_the_reminder() -> None:
    s = state(status=SessionStatus.CLOSED, reminder_state=ReminderState.SENT)
    change = reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.FAILED, policy=ON, now=T, error_code=131047)
    assert change.fields == {"reminder_state": ReminderState.FAILED, "reminder_reason": "error 131047"}
    assert change.events == ()
    assert reminder_send_outcome(s, silence_t=T, outcome=SendOutcome.SKIPPED, policy=ON, now=T) is NO_CHANGE


def test_delivery_statuses_only_move_forward() -> None:
    s = state(reminder_state=ReminderState.SENT)
    assert reminder_status(s, silence_t=T, status=MessageStatus.DELIVERED).fields == {
        "reminder_state": ReminderState.DELIVERED
    }
    read = state(reminder_state=ReminderState.READ)
    assert reminder_status(read, silence_t=T, status=MessageStatus.DELIVERED) is NO_CHANGE
    assert reminder_status(read, silence_t=T, status=MessageStatus.SENT) is NO_CHANGE
    assert reminder_status(s, silence_t=T, status=MessageStatus.SENT) is NO_CHANGE
    assert reminder_status(s, silence_t=T, status=MessageStatus.PLAYED) is NO_CHANGE
    assert reminder_status(s, silence_t=T - timedelta(hours=1), status=MessageStatus.READ) is NO_CHANGE
    # A reminder that failed or was skipped stays so, whatever status arrives late.
    failed = state(reminder_state=ReminderState.FAILED)
    assert reminder_status(failed, silence_t=T, status=MessageStatus.READ) is NO_CHANGE
    unknown = state(reminder_state=ReminderState.UNKNOWN)
    assert reminder_status(unknown, silence_t=T, status=MessageStatus.SENT).fields == {
        "reminder_state": ReminderState.SENT
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]), max_size=8))
def test_delivery_rank_never_goes_down(statuses: list[MessageStatus]) -> None:
    rank = [ReminderState.SENT, ReminderState.DELIVERED, ReminderState.READ]
    s = state(reminder_state=ReminderState.SENT)
    for status in statuses:
        before = rank.index(s.reminder_state)
        s = apply_fields(s, dict(reminder_status(s, silence_t=T, status=status).fields))
        assert rank.index(s.reminder_state) == max(before, rank.index(ReminderState(status.value)))


# -- policy changed (R11) and closed (R9, R13) -------------------------------------------------------


def test_turning_reminders_off_cancels_a_pending_one() -> None:
    change = policy_changed(state(), policy=OFF, now=T + timedelta(minutes=1))
    assert change.fields["reminder_state"] is ReminderState.CANCELLED
    assert [(e.type, e.data["reason"]) for e in change.events] == [("reminder_cancelled", "reminders_disabled")]


def test_turning_reminders_on_after_their_time_misses_them() -> None:
    s = state(OFF)
    assert s.reminder_state is ReminderState.NONE
    change = policy_changed(s, policy=ON, now=T + timedelta(hours=3))
    assert change.fields["reminder_state"] is ReminderState.MISSED
    assert [(e.type, e.data["reason"]) for e in change.events] == [("reminder_skipped", "due_before_policy_change")]


def test_turning_reminders_on_in_time_plans_one_and_records_nothing() -> None:
    change = policy_changed(state(OFF), policy=ON, now=T + timedelta(hours=1))
    assert change.fields["reminder_state"] is ReminderState.PENDING
    assert change.fields["due_at"] == T + timedelta(hours=2)
    assert change.events == ()


def test_a_handled_reminder_survives_a_policy_change() -> None:
    change = policy_changed(state(reminder_state=ReminderState.SENT), policy=OFF, now=T + timedelta(hours=3))
    assert change.fields["reminder_state"] is ReminderState.SENT
    assert change.events == ()


@pytest.mark.parametrize("reason", list(CloseReason))
def test_closing_cancels_a_pending_reminder_and_clears_the_due_time(reason: CloseReason) -> None:
    s = state()
    now = T + timedelta(hours=1)
    change = closed(s, now=now, reason=reason)
    assert change.fields["status"] is SessionStatus.CLOSED
    assert change.fields["close_reason"] is reason
    assert change.fields["due_at"] is None and change.fields["due_kind"] is None
    assert change.fields["claimed_by"] is None
    assert change.fields["reminder_state"] is ReminderState.CANCELLED
    assert [e.type for e in change.events] == ["reminder_cancelled", "session_closed"]
    lag = change.events[1].data["lag_seconds"]
    assert lag == ((now - s.eligible_at).total_seconds() if reason is CloseReason.TIMEOUT else None)


def test_closing_keeps_a_handled_reminder() -> None:
    change = closed(state(reminder_state=ReminderState.READ), now=T, reason=CloseReason.TIMEOUT)
    assert "reminder_state" not in change.fields
    assert [e.type for e in change.events] == ["session_closed"]

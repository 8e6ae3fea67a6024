"""Session policy v2 (issue 13) through the Simulator, on SQLite and PostgreSQL: the reminder ladder,
business hours, reminder_only_when_awaiting_customer, timeout_from, the hold and snooze."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from wasession.services.agents import close_session
from wasession.services.channels import Channel
from wasession.testing import Simulator

ANA = "15550001111"
LADDER = [
    {"after": "1h", "template": "one {contact_firstname}"},
    {"after": "5h", "template": "two"},
    {"before_window_closes": "30m"},
]


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def events(sim: Simulator, ch: object, kind: str) -> list[dict[str, object]]:
    session = sim.session(ch, wa_id=ANA)  # type: ignore[arg-type]
    return [dict(e.data) for e in sim.timeline(session) if e.type == kind]


def test_three_steps_go_out_at_their_exact_seconds_and_never_twice(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="48h", reminder_enabled=True, reminder_steps=LADDER, reminder_template="three")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")  # T = Monday 15:00
    assert sim.session(ch, wa_id=ANA).reminder_due_at == at("2026-01-05T16:00:00Z")
    sim.advance(timedelta(hours=1) - timedelta(seconds=1))
    assert sim.outbox(ch) == []
    sim.advance("1s")
    assert [(m.sent_at, m.body) for m in sim.outbox(ch)] == [(at("2026-01-05T16:00:00Z"), "one Ana")]
    s = sim.session(ch, wa_id=ANA)
    assert (s.reminder_step, s.reminder_state, s.reminder_due_at) == (2, "pending", at("2026-01-05T20:00:00Z"))
    sim.advance("4h")
    sim.run_until("2026-01-06T14:29:59Z")
    assert len(sim.outbox(ch)) == 2
    sim.advance("1s")
    out = sim.outbox(ch)
    assert [(m.sent_at, m.body) for m in out] == [
        (at("2026-01-05T16:00:00Z"), "one Ana"),
        (at("2026-01-05T20:00:00Z"), "two"),
        (at("2026-01-06T14:30:00Z"), "three"),
    ]
    sim.advance("3d")
    assert len(sim.outbox(ch)) == 3
    assert [e["step"] for e in events(sim, ch, "reminder_queued")] == [1, 2, 3]
    assert sim.session(ch, wa_id=ANA).status == "closed"


def test_a_customer_reply_restarts_the_ladder_at_step_one(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="48h", reminder_enabled=True, reminder_steps=[{"after": "1h"}, {"after": "3h"}]
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")  # step 1 at 16:00
    sim.advance("1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="still here")  # 17:00: a new silence
    assert sim.session(ch, wa_id=ANA).reminder_step == 1
    sim.advance("4h")
    assert [m.sent_at for m in sim.outbox(ch)] == [
        at("2026-01-05T16:00:00Z"),
        at("2026-01-05T18:00:00Z"),
        at("2026-01-05T20:00:00Z"),
    ]
    assert [e["step"] for e in events(sim, ch, "reminder_queued")] == [1, 1, 2]


def test_after_downtime_only_the_latest_overdue_step_goes_out_the_others_are_superseded(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="48h",
        reminder_enabled=True,
        reminder_steps=[{"after": "1h"}, {"after": "2h"}, {"after": "3h"}],
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.clock.advance(timedelta(hours=3, minutes=30))  # down from T to T + 3 h 30 min
    sim.run_due()
    assert [m.sent_at for m in sim.outbox(ch)] == [at("2026-01-05T18:30:00Z")]
    skipped = events(sim, ch, "reminder_skipped")
    assert [(e["reason"], e["step"]) for e in skipped] == [("superseded", 1), ("superseded", 2)]
    assert [e["step"] for e in events(sim, ch, "reminder_queued")] == [3]
    sim.advance("2d")
    assert len(sim.outbox(ch)) == 1


def _office_hours_in_new_york(sim: Simulator) -> Channel:
    return sim.add_channel(
        session_timeout="48h",
        reminder_enabled=True,
        reminder_steps=[{"after": "1h"}],
        timezone="America/New_York",
        business_hours={"mon-fri": ["09:00-17:00"]},
    )


def test_a_step_outside_business_hours_moves_to_the_next_opening_across_the_weekend(any_sim: Simulator) -> None:
    sim = any_sim
    ch = _office_hours_in_new_york(sim)
    sim.run_until("2026-01-11T15:00:00Z")  # Sunday 10:00 in New York
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    # Sunday 11:00 is closed: the step waits for Monday 09:00 New York (14:00 UTC), 1 h before the window closes.
    assert sim.session(ch, wa_id=ANA).reminder_due_at == at("2026-01-12T14:00:00Z")
    sim.run_until("2026-01-12T13:59:59Z")
    assert sim.outbox(ch) == []
    sim.advance("1s")
    assert [m.sent_at for m in sim.outbox(ch)] == [at("2026-01-12T14:00:00Z")]


def test_a_step_outside_business_hours_is_skipped_when_the_next_opening_is_too_late(any_sim: Simulator) -> None:
    sim = any_sim
    ch = _office_hours_in_new_york(sim)
    sim.run_until("2026-01-09T21:30:00Z")  # Friday 16:30 in New York; Monday 09:00 is past the window
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3d")
    assert sim.outbox(ch) == []
    skipped = events(sim, ch, "reminder_skipped")
    assert skipped == [{"reason": "outside_business_hours", "due_at": "2026-01-09T22:30:00+00:00", "step": 1}]


def test_reminder_only_when_awaiting_customer_skips_a_step_while_the_customer_waits_for_us(
    any_sim: Simulator,
) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="48h",
        reminder_enabled=True,
        reminder_steps=[{"after": "1h"}, {"after": "2h"}],
        reminder_only_when_awaiting_customer=True,
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")  # nobody answered Ana: asking "still there?" would be rude
    assert [(e["reason"], e["step"]) for e in events(sim, ch, "reminder_skipped")] == [("awaiting_agent", 1)]
    sim.agent_message(ch, wa_id=ANA, text="Here is your quote")
    sim.advance("1h")
    bodies = [m.body for m in sim.outbox(ch)]
    assert bodies[0] == "Here is your quote" and len(bodies) == 2  # the agent's reply, then step 2
    assert [e["step"] for e in events(sim, ch, "reminder_queued")] == [2]


def test_timeout_from_last_message_counts_from_the_agent_reply_and_never_from_a_reminder(
    any_sim: Simulator,
) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="2h", timeout_from="last_message", reminder_enabled=True, reminder_steps=[{"after": "90m"}]
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # 15:00
    sim.advance("1h")
    sim.agent_message(ch, wa_id=ANA, text="On it")  # 16:00: eligible at 18:00, not 17:00
    assert sim.session(ch, wa_id=ANA).eligible_at == at("2026-01-05T18:00:00Z")
    sim.advance("30m")  # 16:30: the reminder goes out and moves nothing
    assert len(sim.outbox(ch)) == 2
    sim.run_until("2026-01-05T17:59:59Z")
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.advance("1s")
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.closed_at) == ("closed", at("2026-01-05T18:00:00Z"))


def test_timeout_from_customer_ignores_agent_replies(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    sim.agent_message(ch, wa_id=ANA, text="On it")
    sim.advance("1h")
    assert sim.session(ch, wa_id=ANA).closed_at == at("2026-01-05T17:00:00Z")


def test_hold_keeps_a_session_waiting_for_an_agent_open_until_the_agent_replies(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h", hold_while_awaiting_agent=True, timeout_from="last_message")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("20h")  # long past T + 2 h, nobody has answered Ana
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.held) == ("active", True)
    sim.agent_message(ch, wa_id=ANA, text="Sorry for the wait")  # 2026-01-06 11:00
    s = sim.session(ch, wa_id=ANA)
    assert (s.held, s.eligible_at) == (False, at("2026-01-06T13:00:00Z"))
    sim.advance("2h")
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.closed_at) == ("closed", at("2026-01-06T13:00:00Z"))


def test_hold_with_timeout_from_customer_closes_once_answered_if_the_timeout_has_passed(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h", hold_while_awaiting_agent=True)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("20h")
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.agent_message(ch, wa_id=ANA, text="Sorry")
    sim.run_due()
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.closed_at) == ("closed", at("2026-01-06T11:00:00Z"))


def test_snooze_postpones_the_closure_past_its_original_time_and_skips_steps_it_covered(
    any_sim: Simulator,
) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h", reminder_enabled=True, reminder_steps=[{"after": "90m"}])
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # 15:00: would close at 17:00
    sim.advance("1h")
    until = sim.snooze(ch, wa_id=ANA, until="2026-01-05T18:00:00Z")
    s = sim.session(ch, wa_id=ANA)
    assert (until, s.snoozed_until, s.closes_at) == (at("2026-01-05T18:00:00Z"),) * 2 + (at("2026-01-05T20:00:00Z"),)
    sim.run_until("2026-01-05T17:59:59Z")  # 16:30 (the step) and 17:00 (the old closure) pass quietly
    assert sim.outbox(ch) == [] and sim.session(ch, wa_id=ANA).status == "active"
    sim.advance("1s")  # 18:00: awake; the timeout counts again from now
    s = sim.session(ch, wa_id=ANA)
    assert (s.snoozed_until, s.eligible_at, s.status) == (None, at("2026-01-05T20:00:00Z"), "active")
    assert [(e["reason"], e["step"]) for e in events(sim, ch, "reminder_skipped")] == [("snoozed", 1)]
    sim.run_until("2026-01-05T19:59:59Z")
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.advance("1s")
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.closed_at) == ("closed", at("2026-01-05T20:00:00Z"))
    assert [e["early"] for e in events(sim, ch, "session_woke")] == [False]


def test_a_customer_message_or_an_early_wake_ends_a_snooze(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.snooze(ch, wa_id=ANA, until="1d")
    sim.advance("1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="hello?")  # 16:00
    s = sim.session(ch, wa_id=ANA)
    assert (s.snoozed_until, s.closes_at) == (None, at("2026-01-05T18:00:00Z"))
    sim.snooze(ch, wa_id=ANA, until="5h")
    sim.advance("30m")
    sim.wake(ch, wa_id=ANA)  # 16:30: eligible at the later of T + 2 h and now + 2 h
    s = sim.session(ch, wa_id=ANA)
    assert (s.snoozed_until, s.closes_at) == (None, at("2026-01-05T18:30:00Z"))
    assert [e["early"] for e in events(sim, ch, "session_woke")] == [True]
    sim.advance("2h")
    assert sim.session(ch, wa_id=ANA).closed_at == at("2026-01-05T18:30:00Z")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"reminder_steps": [{"after": "25h"}]}, "reminder_steps", "between 1 minute and 23 hours 55 minutes"),
        ({"reminder_steps": [{"after": "2h"}, {"after": "1h"}]}, "reminder_steps", "step 2"),
        ({"reminder_steps": [{"after": "1h"}] * 4}, "reminder_steps", "at most 3 steps"),
        ({"reminder_steps": [{"after": "1h", "before_window_closes": "1h"}]}, "reminder_steps", "exactly one"),
        ({"reminder_steps": [{"after": "3h"}], "reminder_enabled": True}, "reminder_steps", "could never go out"),
        ({"business_hours": {"mon-fri": ["18:00-09:00"]}}, "business_hours", "end after its start"),
        ({"business_hours": {"weekdays": ["09:00-18:00"]}}, "business_hours", "mon-fri"),
        ({"timeout_from": "agent"}, "timeout_from", "last_message"),
        ({"reopen_within": "8d"}, "reopen_within", "between 0 and 7 days"),
        ({"closing_template": {"name": "Bye!"}}, "closing_template", "approved template"),
        ({"timezone": "europe/london"}, "timezone", "did you mean Europe/London?"),
        ({"session_timeout": ""}, "session_timeout", "empty"),
    ],
)
def test_bad_values_are_refused_with_the_field_named_and_nothing_changes(
    sim: Simulator, changes: dict[str, object], field: str, words: str
) -> None:
    ch = sim.add_channel(session_timeout="2h", reminder_enabled=True, reminder_after_hours=1)
    before = sim.channel(ch).policy
    with pytest.raises(ValueError, match=field) as info:
        sim.update_policy(ch, **changes)
    assert words in str(info.value)
    assert "(PT" not in str(info.value) and "got" not in str(info.value)  # ranges in words, never "got" nothing
    assert sim.channel(ch).policy == before
    with pytest.raises(ValueError, match=field):
        sim.add_channel(**{"session_timeout": "2h", "reminder_enabled": True, "reminder_after_hours": 1, **changes})


def test_reading_the_policy_shows_the_ladder_and_reminder_after_hours_consistently(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=4)
    shown = sim.channel(ch).policy.to_public()
    assert (shown["reminder_after_hours"], shown["reminder_steps"]) == (4, [{"after": "PT4H"}])
    sim.update_policy(ch, reminder_steps=[{"after": "2h30m"}, {"before_window_closes": "1h"}], reminder_after_hours=9)
    shown = sim.channel(ch).policy.to_public()
    assert shown["reminder_after_hours"] == 2  # reminder_steps wins; its first step's hour
    assert shown["reminder_steps"] == [{"after": "PT2H30M"}, {"before_window_closes": "PT1H"}]
    sim.update_policy(ch, reminder_after_hours=6)  # alone, it is the one-step ladder again
    shown = sim.channel(ch).policy.to_public()
    assert (shown["reminder_after_hours"], shown["reminder_steps"]) == (6, [{"after": "PT6H"}])


def test_the_closing_message_goes_out_as_text_inside_the_window(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="2h",
        company_name="Acme",
        closing_message="Thanks {contact_firstname}, {company_name} closed this chat.",
        closing_template={"name": "chat_closed", "language": "en_US"},
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    sim.advance("2h")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed"
    out = sim.outbox(ch)
    assert [(m.type, m.body, m.sent_at) for m in out] == [
        ("text", "Thanks Ana, Acme closed this chat.", at("2026-01-05T17:00:00Z"))
    ]
    closing = [m for m in sim.transcript(s) if m.kind == "closing"]
    assert len(closing) == 1 and closing[0].status in ("accepted", "sent", "delivered", "read")
    assert events(sim, ch, "closing_message_queued")[0]["type"] == "text"
    assert s.awaiting == "agent"  # an automated send is never agent activity


def test_the_closing_template_goes_out_when_the_window_has_under_five_minutes_left(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(
        session_timeout="23h58m",
        closing_message="Thanks!",
        closing_template={"name": "chat_closed", "language": "en_US"},
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1d")
    out = sim.outbox(ch)
    assert [(m.type, m.sent_at) for m in out] == [("template", at("2026-01-06T14:58:00Z"))]
    queued = events(sim, ch, "closing_message_queued")
    assert [(e["type"], e["name"]) for e in queued] == [("template", "chat_closed")]


def test_a_closing_message_that_cannot_go_out_is_recorded_skipped(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="3d", closing_message="Thanks!")  # closes long after the window
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3d")
    assert sim.outbox(ch) == []
    assert events(sim, ch, "closing_message_skipped") == [{"reason": "window_closed"}]
    closed_by_hand = sim.add_channel(session_timeout="2h", closing_message="Thanks!")
    sim.customer_message(closed_by_hand, wa_id=ANA, name="Ana")
    close_session(sim.runtime.ctx, sim.session(closed_by_hand, wa_id=ANA).id)
    sim.advance("1h")
    assert sim.outbox(closed_by_hand) == []  # only a timeout closure says goodbye


def test_a_customer_message_within_reopen_within_reopens_the_timed_out_session(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h", reopen_within="1h", reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    first = sim.session(ch, wa_id=ANA)
    sim.advance("2h")  # closed by timeout at 17:00
    sim.advance("1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="sorry, was out")  # 18:00: exactly reopen_within later
    s = sim.session(ch, wa_id=ANA)
    assert (s.id, s.status, s.closed_at, s.close_reason) == (first.id, "active", None, None)
    assert (s.reminder_step, s.reminder_due_at, s.closes_at) == (
        1,
        at("2026-01-05T19:00:00Z"),
        at("2026-01-05T20:00:00Z"),
    )
    reopened = events(sim, ch, "session_reopened")
    assert [e["closed_at"] for e in reopened] == ["2026-01-05T17:00:00+00:00"]
    assert [m.body for m in sim.transcript(s) if m.direction == "in"] == ["hello", "sorry, was out"]


def test_a_customer_message_after_reopen_within_or_an_agent_closure_opens_a_new_session(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="2h", reopen_within="1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    first = sim.session(ch, wa_id=ANA)
    sim.advance("3h")  # closed at 17:00
    sim.advance("1s")
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # 18:00:01: one second too late
    second = sim.session(ch, wa_id=ANA)
    assert second.id != first.id and second.status == "active"
    close_session(sim.runtime.ctx, second.id)  # closed by hand: never reopened
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    third = sim.session(ch, wa_id=ANA)
    assert third.id not in (first.id, second.id)
    assert events(sim, ch, "session_reopened") == []

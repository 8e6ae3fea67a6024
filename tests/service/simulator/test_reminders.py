"""R6, R7, R8, R11, R14, R15: the re-engagement reminder."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from wasession.services.agents import close_session
from wasession.testing import Simulator

ANA = "15550001111"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("hours", range(1, 24))
def test_reminder_goes_out_once_at_t_plus_h(sim: Simulator, hours: int) -> None:
    ch = sim.add_channel(
        session_timeout="48h",
        reminder_enabled=True,
        reminder_after_hours=hours,
        reminder_template="Hi {contact_firstname}!",
    )
    start = sim.now
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    sim.advance(timedelta(hours=hours) - timedelta(seconds=1))
    assert sim.outbox(ch) == []
    sim.advance("1s")
    out = sim.outbox(ch)
    assert len(out) == 1
    assert out[0].sent_at == start + timedelta(hours=hours)
    assert out[0].to == "+" + ANA and out[0].body == "Hi Ana!"
    sim.advance("47h")
    assert len(sim.outbox(ch)) == 1  # never twice for one silence
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.reminder_state in ("sent", "delivered", "read")


def test_no_reminder_when_the_customer_wrote_again_and_a_new_one_after_a_new_silence(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=3, session_timeout="24h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="one more thing")  # new silence starts at 17:00
    sim.advance("59m59s")
    assert sim.outbox(ch) == []  # the first silence's reminder (18:00) is gone
    sim.advance("2h1s")  # 20:00
    out = sim.outbox(ch)
    assert [m.sent_at for m in out] == [at("2026-01-05T20:00:00Z")]
    sim.advance("1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="back")  # 21:00: a new silence
    sim.advance("3h")
    assert [m.sent_at for m in sim.outbox(ch)] == [at("2026-01-05T20:00:00Z"), at("2026-01-06T00:00:00Z")]


def test_reminder_is_never_sent_after_closure(sim: Simulator) -> None:
    # A reminder due at or after the timeout is refused outright: the session would close first.
    with pytest.raises(ValueError, match="could never go out"):
        sim.add_channel(reminder_enabled=True, reminder_after_hours=5, session_timeout="2h")
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=5, session_timeout="6h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    close_session(sim.runtime.ctx, sim.session(ch, wa_id=ANA).id)  # closed by hand before the reminder
    sim.advance("1d")
    assert sim.outbox(ch) == []
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.reminder_state == "cancelled"


def test_reminder_skipped_when_less_than_five_minutes_of_window_are_left(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=20, session_timeout="48h")
    # A webhook delivered late: the customer wrote 23 h 57 min ago, the reminder is overdue.
    sim.customer_message(ch, wa_id=ANA, name="Ana", at=sim.now - timedelta(hours=23, minutes=57))
    sim.run_due()
    assert sim.outbox(ch) == []
    s = sim.session(ch, wa_id=ANA)
    assert s.reminder_state == "skipped" and s.reminder_reason == "window_closing"
    skipped = [e for e in sim.timeline(s) if e.type == "reminder_skipped"]
    assert len(skipped) == 1 and skipped[0].data["reason"] == "window_closing"


def test_overdue_reminder_after_an_outage_is_sent_when_the_window_allows(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=20, session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.clock.advance(timedelta(hours=21))  # down from T+0 to T+21h
    sim.run_due()
    assert [m.sent_at for m in sim.outbox(ch)] == [at("2026-01-06T12:00:00Z")]


def test_overdue_reminder_after_a_long_outage_is_skipped_not_sent(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=20, session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.clock.advance(timedelta(hours=25))
    sim.run_due()
    assert sim.outbox(ch) == []
    assert sim.session(ch, wa_id=ANA).reminder_reason == "window_closed"


def test_merge_fields_and_fallbacks_render(sim: Simulator) -> None:
    ch = sim.add_channel(
        reminder_enabled=True,
        reminder_after_hours=1,
        company_name="Acme",
        reminder_template="{contact_firstname|there} {contact_lastname}, {company_name} here ({contact_phone})."
        " {contact_email|no email} {{literal}}",
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana Maria Silva")
    sim.customer_message(ch, wa_id="15550002222", name=None)
    sim.advance("1h")
    bodies = sorted(m.body or "" for m in sim.outbox(ch))
    assert bodies == [
        "Ana Maria Silva, Acme here (+15550001111). no email {literal}",
        "there , Acme here (+15550002222). no email {literal}",
    ]


def test_reminder_and_agent_messages_do_not_move_t(sim: Simulator) -> None:
    from wasession.services import agents

    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="3h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    sim.advance("30m")
    agents.send_text(sim.runtime.ctx, s.id, "We are on it")
    sim.advance("2h")
    after = sim.session(ch, wa_id=ANA)
    assert after.last_customer_message_at == s.last_customer_message_at
    assert after.window_closes_at == s.window_closes_at
    sim.advance("30m")
    assert sim.session(ch, wa_id=ANA).closed_at == at("2026-01-05T18:00:00Z")


def test_reminder_states_follow_delivery_statuses(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    assert sim.session(ch, wa_id=ANA).reminder_state == "sent"
    sim.advance("1s")
    assert sim.session(ch, wa_id=ANA).reminder_state == "delivered"
    sim.advance("10s")
    s = sim.session(ch, wa_id=ANA)
    assert s.reminder_state == "read"
    types = [e.type for e in sim.timeline(s)]
    assert types.count("reminder_sent") == 1 and "reminder_delivered" in types and "reminder_read" in types


def test_reminder_failing_with_131047_marks_the_window_closed(sim: Simulator) -> None:
    from wasession.services import agents
    from wasession.services.errors import WindowClosedError

    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=2, session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="hi")
    # Meta judges the window by what it saw; here it disagrees with us, so it accepts the reminder
    # and then fails it with 131047.
    sim.fake.forget_customer(ch.phone_number_id, ANA)
    sim.advance("2h")
    sim.advance("5s")
    s = sim.session(ch, wa_id=ANA)
    assert s.reminder_state == "failed"
    assert s.window_closes_at == at("2026-01-05T17:00:01Z")
    assert "window_closed" in [e.type for e in sim.timeline(s)]
    with pytest.raises(WindowClosedError):
        agents.send_text(sim.runtime.ctx, s.id, "hello?")

"""R9, R10, R12, R14: when sessions close."""

from __future__ import annotations

from datetime import datetime, timedelta

from wasession.testing import Simulator

ANA = "15550001111"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_exact_mode_closes_one_day_after_a_1500_message(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="24h", closure_check="exact")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva", text="hello")
    sim.advance("23h59m59s")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "active" and not s.eligible
    sim.advance("1s")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed"
    assert s.closed_at == at("2026-01-06T15:00:00Z")
    assert s.close_reason == "timeout"


def test_interval_mode_waits_for_the_0300_tick_and_stays_visible_as_eligible(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="24h", closure_check="12h", closure_check_anchor="03:00")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")  # Monday 15:00
    sim.run_until("2026-01-06T15:00:00Z")  # Tuesday 15:00: eligible, but the tick is 03:00 Wednesday
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "active" and s.eligible
    assert s.closes_at == at("2026-01-07T03:00:00Z")
    assert [v.id for v in sim.active_sessions(ch)] == [s.id]
    sim.run_until("2026-01-07T02:59:59Z")
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.advance("1s")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.closed_at == at("2026-01-07T03:00:00Z")


def test_interval_ticks_follow_the_channel_time_zone(sim: Simulator) -> None:
    ch = sim.add_channel(
        session_timeout="1h", closure_check="24h", closure_check_anchor="09:00", timezone="America/New_York"
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")  # 15:00Z = 10:00 in New York
    sim.advance("1d")
    s = sim.session(ch, wa_id=ANA)
    assert s.closed_at == at("2026-01-06T14:00:00Z")  # 09:00 New York (EST, UTC-5) the next day


def test_a_customer_message_pushes_closure_back(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("90m")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="still here")
    sim.advance("90m")
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.advance("30m")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.closed_at == at("2026-01-05T18:30:00Z")


def test_message_after_closure_opens_a_new_session_and_keeps_history(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("2h")
    first = sim.session(ch, wa_id=ANA)
    assert first.status == "closed"
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="me again")
    second = sim.session(ch, wa_id=ANA)
    assert second.id != first.id and second.status == "active"
    assert [e.type for e in sim.timeline(first)][-1] == "session_closed"
    assert len(sim.active_sessions(ch)) == 1


def test_overdue_closures_happen_at_once_after_an_outage(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.clock.advance(timedelta(hours=5))  # the process was down: nothing ran
    assert sim.session(ch, wa_id=ANA).status == "active"
    sim.run_due()
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.closed_at == at("2026-01-05T20:00:00Z")
    closed = [e for e in sim.timeline(s) if e.type == "session_closed"]
    assert len(closed) == 1 and closed[0].data["lag_seconds"] == 4 * 3600


def test_agent_can_close_by_hand(sim: Simulator) -> None:
    from wasession.services import agents
    from wasession.services.errors import ConflictError

    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    agents.close_session(sim.runtime.ctx, s.id)
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.close_reason == "agent"
    try:
        agents.close_session(sim.runtime.ctx, s.id)
    except ConflictError as exc:
        assert exc.code == "already_closed"
    else:  # pragma: no cover
        raise AssertionError("closing twice must be refused")

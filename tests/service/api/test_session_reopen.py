"""Reopening over the API: by hand, by replying while WhatsApp's window is open, and the 409s."""

from __future__ import annotations

from tests.support.api import World, error
from wasession.store.channels import Channel

ANA = "15550001111"


def test_reopen_by_hand_keeps_the_window_and_closes_at_the_next_tick(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="2h", closure_check="12h", closure_check_anchor="03:00")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")  # 15:00; eligible 17:00, closed at 03:00
    sid = sim.session(ch, wa_id=ANA).id
    assert world.a.post(f"/sessions/{sid}/close").status_code == 200
    sim.advance("1h")
    reopened = world.a.post(f"/sessions/{sid}/reopen")
    assert reopened.status_code == 200
    body = reopened.json()
    assert (body["status"], body["closed_at"], body["close_reason"]) == ("active", None, None)
    assert body["window_closes_at"] == "2026-01-06T15:00:00Z" and body["closes_at"] == "2026-01-06T03:00:00Z"
    event = sim.timeline(sid)[-1]
    assert event.type == "session_reopened" and event.data["by"] == "agent"
    error(world.a.post(f"/sessions/{sid}/reopen"), 409, "already_active")
    sim.advance("12h")  # 04:00: the 03:00 tick closed it again
    assert sim.session(ch, wa_id=ANA).status == "closed"


def test_reopen_after_the_closure_tick_waits_for_the_next_tick(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="2h", closure_check="12h", closure_check_anchor="03:00")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    sid = sim.session(ch, wa_id=ANA).id
    sim.advance("13h")  # 04:00: closed by the 03:00 tick; the window is open until 15:00
    assert sim.session(ch, wa_id=ANA).close_reason == "timeout"
    assert world.a.post(f"/sessions/{sid}/reopen").json()["closes_at"] == "2026-01-06T15:00:00Z"
    sim.advance("1m")
    assert sim.session(ch, wa_id=ANA).status == "active"


def _closed_by_hand(world: World, timeout: str) -> tuple[Channel, int]:
    """Ana writes at 15:00 on a channel with this timeout, and an agent closes her session at once."""
    ch = world.sim.add_channel(session_timeout=timeout)
    world.sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    sid = world.sim.session(ch, wa_id=ANA).id
    assert world.a.post(f"/sessions/{sid}/close").status_code == 200
    return ch, sid


def test_a_reply_inside_the_window_reopens_and_outside_it_names_the_window_close(world: World) -> None:
    sim = world.sim
    ch, sid = _closed_by_hand(world, "48h")
    sim.advance("2h")
    assert world.a.post(f"/sessions/{sid}/messages", json={"body": "One more thing"}).status_code == 202
    s = sim.session(ch, wa_id=ANA)
    assert (s.status, s.awaiting) == ("active", "customer")
    assert [e.type for e in sim.timeline(sid)][-2:] == ["session_reopened", "agent_message"]
    world.a.post(f"/sessions/{sid}/close")
    sim.advance("23h")  # closed by hand at 17:00; the window closed at 15:00 the next day
    refused = error(world.a.post(f"/sessions/{sid}/messages", json={"body": "late"}), 409, "window_closed")
    assert refused["error"]["closed_at"] == "2026-01-06T15:00:00+00:00"
    assert sim.session(ch, wa_id=ANA).status == "closed"


def test_reopen_refuses_when_a_newer_session_is_open_and_other_workspaces(world: World) -> None:
    sim = world.sim
    ch, first = _closed_by_hand(world, "2h")
    sim.advance("1m")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")  # opens a new session
    assert sim.session(ch, wa_id=ANA).id != first
    error(world.a.post(f"/sessions/{first}/reopen"), 409, "newer_session_open")
    error(world.b.post(f"/sessions/{first}/reopen"), 404, "not_found")

"""The session list's search, urgent-first order and pages both ways, on SQLite and PostgreSQL (the
search is LIKE on one and ILIKE on the other), and a reopening by hand."""

from __future__ import annotations

from wasession.services import agents
from wasession.services import queries as query_service
from wasession.testing import Simulator


def test_search_sort_and_pages_both_ways(sim: Simulator) -> None:
    ctx = sim.runtime.ctx
    ch = sim.add_channel(session_timeout="48h")
    for i, name in enumerate(["Ana Silva", "Bruno Costa", "Carla Mendes", "Daniel Okafor"]):
        sim.advance("6h" if i else "0s")
        sim.customer_message(ch, wa_id=f"3519100000{i}", name=name)  # Mon 15:00, 21:00, Tue 03:00, 09:00
    sim.advance("5h59m")
    ws = sim.channel(ch).workspace_id
    open_now = query_service.list_sessions(ctx, workspace_id=ws, sort="window").items  # Tue 14:59
    assert [s.contact_name for s in open_now] == ["Ana Silva", "Bruno Costa", "Carla Mendes", "Daniel Okafor"]
    sim.advance("1h")  # Tue 15:59: Ana's window closed at 15:00, the others are still open
    names = [s.contact_name for s in query_service.list_sessions(ctx, workspace_id=ws, sort="window").items]
    assert names == ["Bruno Costa", "Carla Mendes", "Daniel Okafor", "Ana Silva"]
    assert [s.contact_name for s in query_service.list_sessions(ctx, workspace_id=ws, search="cOsTa").items] == [
        "Bruno Costa"
    ]
    first = query_service.list_sessions(ctx, workspace_id=ws, sort="window", limit=3)
    last = query_service.list_sessions(ctx, workspace_id=ws, sort="window", limit=3, cursor=first.next_cursor)
    assert [s.contact_name for s in last.items] == ["Ana Silva"] and (last.start, last.total) == (4, 4)
    back = query_service.list_sessions(ctx, workspace_id=ws, sort="window", limit=3, cursor=last.prev_cursor)
    assert back.items == first.items and back.prev_cursor is None


def test_reopen_by_hand_records_who(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="2h")
    sim.customer_message(ch, wa_id="15550001111", name="Ana")
    sid = sim.session(ch, wa_id="15550001111").id
    agents.close_session(sim.runtime.ctx, sid)
    agents.reopen(sim.runtime.ctx, sid)
    assert sim.session(ch, wa_id="15550001111").status == "active"
    reopened = sim.timeline(sid)[-1]
    assert reopened.type == "session_reopened" and reopened.data["by"] == "agent"
    sim.advance("2h1m")
    assert sim.session(ch, wa_id="15550001111").close_reason == "timeout"

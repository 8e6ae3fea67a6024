"""Issue 23: the chat list's search finds message text too (SQLite and PostgreSQL), any case."""

from __future__ import annotations

from wasession.services import queries as query_service
from wasession.testing import Simulator


def test_search_finds_a_word_of_a_message(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="Where is my parcel?")
    sim.customer_message(ch, wa_id="15550002222", name="Bruno Costa", text="I want a REFUND_50% please")
    ws = sim.channel(ch).workspace_id

    def found(text: str) -> list[str]:
        return [
            s.contact_name for s in query_service.list_sessions(sim.runtime.ctx, workspace_id=ws, search=text).items
        ]

    assert found("refund_50%") == ["Bruno Costa"]  # any case; _ and % literal
    assert found("parcel") == ["Ana Silva"]
    assert found("Ana") == ["Ana Silva"]  # names still
    assert found("refund_5x") == []

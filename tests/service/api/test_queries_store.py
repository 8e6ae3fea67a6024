"""services/queries and the event dispatcher on SQLite and PostgreSQL: SQL filters, keyset pages, fan-out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from wasession.engine.event_dispatch import EventDispatcher
from wasession.services import channels as channel_service
from wasession.services import event_webhooks as hook_service
from wasession.services import queries as query_service
from wasession.services.errors import NotFoundError, ValidationError
from wasession.testing import Simulator


@pytest.fixture
def db_sim(migrated_database_url: str) -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z", database_url=migrated_database_url) as sim:
        yield sim


def test_filters_and_pages_in_sql(db_sim: Simulator) -> None:
    sim = db_sim
    ch = sim.add_channel(session_timeout="1h", closure_check="24h", closure_check_anchor="09:00")
    for i in range(5):
        sim.customer_message(ch, wa_id=f"155500000{i:02d}", name=f"C{i}")
        sim.advance("20m")
    ctx = sim.runtime.ctx
    ws = ch.workspace_id
    # now 16:40: C0, C1 and C2 (15:40, exactly an hour ago) are past their hour, waiting for 09:00 tomorrow
    eligible = query_service.list_sessions(ctx, workspace_id=ws, eligible=True)
    assert [s.contact_name for s in eligible.items] == ["C2", "C1", "C0"]
    assert [s.contact_name for s in query_service.list_sessions(ctx, workspace_id=ws, eligible=False).items] == [
        "C4",
        "C3",
    ]
    seen: list[str] = []
    cursor = None
    while True:
        page = query_service.list_sessions(ctx, workspace_id=ws, limit=2, cursor=cursor)
        seen += [s.contact_name for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["C4", "C3", "C2", "C1", "C0"]
    assert query_service.list_sessions(ctx, workspace_id=ws + 1).items == []
    with pytest.raises(NotFoundError):
        query_service.session_detail(ctx, eligible.items[0].id, workspace_id=ws + 1)
    with pytest.raises(ValidationError):
        query_service.list_sessions(ctx, workspace_id=ws, cursor="x")


def test_dispatch_delivers_each_event_once(db_sim: Simulator) -> None:
    sim = db_sim
    got: list[bytes] = []

    def receive(request: httpx.Request) -> httpx.Response:
        got.append(request.content)
        return httpx.Response(200)

    sim.runtime.event_dispatch.http = httpx.Client(transport=httpx.MockTransport(receive))
    ctx = sim.runtime.ctx
    ws = channel_service.default_workspace(ctx)
    hook_service.create_webhook(ctx, workspace_id=ws, url="http://crm.test/hook", secret="s" * 16)
    sim.add_channel()
    second = EventDispatcher(ctx, sim.runtime.event_dispatch.http)  # another worker on the same database
    assert second.run_pending().outcomes["delivered"] == 1
    assert sim.runtime.event_dispatch.run_pending().total == 0
    sim.run_due()
    assert len(got) == 1

"""Unread chats, per dashboard user: new customer messages since that user last opened the chat."""

from __future__ import annotations

import pytest

from wasession.services import queries as query_service
from wasession.services.errors import NotFoundError
from wasession.testing import Simulator
from wasession.testing.harness import add_admin


def test_a_chat_is_unread_until_opened_and_again_after_the_customer_writes(sim: Simulator) -> None:
    ctx = sim.runtime.ctx
    ch = sim.add_channel()
    alice, bob = add_admin(sim, "alice", "password-1"), add_admin(sim, "bob", "password-2")
    sim.customer_message(ch, wa_id="15550001111", name="Ana")
    ws = sim.channel(ch).workspace_id
    items = query_service.list_sessions(ctx, workspace_id=ws).items
    sid = items[0].id
    assert query_service.unread(ctx, alice, items) == {sid}
    sim.advance("1m")
    query_service.mark_read(ctx, alice, sid, workspace_id=ws)
    assert query_service.unread(ctx, alice, items) == set() and query_service.unread(ctx, bob, items) == {sid}
    sim.advance("1m")
    query_service.mark_read(ctx, alice, sid, workspace_id=ws)  # opened again: still one row, moved forward
    sim.advance("1m")
    sim.customer_message(ch, wa_id="15550001111", name="Ana", text="again")
    assert query_service.unread(ctx, alice, query_service.list_sessions(ctx, workspace_id=ws).items) == {sid}
    with pytest.raises(NotFoundError):
        query_service.mark_read(ctx, alice, sid, workspace_id=ws + 1)

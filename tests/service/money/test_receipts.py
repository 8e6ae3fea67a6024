"""Issue 26: what an agent's reading and typing show the customer on WhatsApp, through the Cloud API's
documented read receipt and typing indicator (the fake accepts them as Meta's specification shows)."""

from __future__ import annotations

import pytest

from tests.support.money import Money
from wasession.services import receipts
from wasession.services import workspaces as workspace_service
from wasession.services.errors import NotFoundError

ANA = "15550001111"


def test_read_and_typing_follow_the_channel_setting_and_the_20_second_rule(money: Money) -> None:
    sim = money.sim
    ch = sim.add_channel(read_receipts=True)
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="first")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="second", wamid="wamid.LAST")
    session_id = sim.session(ch, wa_id=ANA).id
    ctx, client_for, ws = sim.runtime.ctx, sim.runtime.client_for, money.workspace_id
    assert receipts.mark_read(ctx, client_for, session_id, workspace_id=ws) is True
    assert receipts.mark_read(ctx, client_for, session_id, workspace_id=ws, typing=True) is True
    sim.advance("19s")
    assert receipts.mark_read(ctx, client_for, session_id, workspace_id=ws, typing=True) is False  # once per 20 s
    sim.advance("2s")
    assert receipts.mark_read(ctx, client_for, session_id, workspace_id=ws, typing=True) is True
    got = [(r.message_id, r.typing) for r in sim.fake.receipts(ch.phone_number_id)]
    assert got == [("wamid.LAST", False), ("wamid.LAST", True), ("wamid.LAST", True)]
    other = workspace_service.create_workspace(ctx, "other").id
    with pytest.raises(NotFoundError):
        receipts.mark_read(ctx, client_for, session_id, workspace_id=other)
    sim.update_policy(ch, read_receipts=False)
    assert receipts.mark_read(ctx, client_for, session_id, workspace_id=ws) is False
    assert len(sim.fake.receipts(ch.phone_number_id)) == 3

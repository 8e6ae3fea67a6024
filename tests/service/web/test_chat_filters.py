"""The chat list's filters over the dashboard: snoozed chats (issue 13's snooze, issue 15's queue)."""

from __future__ import annotations

from tests.support.web import Browser
from wasession.store.channels import Channel
from wasession.testing import Simulator


def test_the_snoozed_filter_lists_only_the_chats_snoozed_now(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="hi")
    sim.customer_message(sandbox, wa_id="15550002222", name="Bo Chen", text="hello")
    sim.snooze(sandbox, wa_id="15550001111", until="2h")
    everyone = browser.get("/dashboard/chats").text
    assert "Ana Silva" in everyone and "Bo Chen" in everyone and ">Snoozed</option>" in everyone
    snoozed = browser.get("/dashboard/chats?state=snoozed").text
    assert "Ana Silva" in snoozed and "Bo Chen" not in snoozed
    sim.advance("3h")  # the snooze has ended
    assert "Ana Silva" not in browser.get("/dashboard/chats?state=snoozed").text

"""The Forwarding panel in chromium: add a target on the settings page, see its deliveries, pause, remove."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Dashboard
from tests.support.relay import Scripted
from tests.support.servers import serve

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the browser fixture builds its Simulator: the relay may call receivers on 127.0.0.1."""
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")


def test_add_a_target_see_its_deliveries_pause_and_remove_it(dash: Dashboard) -> None:
    crm = Scripted([500])
    with serve(crm) as receiver:
        dash.login()
        page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
        panel = page.locator("#forwarding")
        assert "This channel forwards nothing." in panel.inner_text()
        page.get_by_label("URL").fill("http://10.1.2.3/hook")
        page.get_by_role("button", name="Add target").click()
        assert "private" in page.locator("#forward-error").inner_text()  # refused, and said why
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("calls").uncheck()
        page.get_by_role("button", name="Add target").click()
        page.wait_for_url("**/forwards?done=added")
        assert receiver.url in page.locator(".forward-url").inner_text()
        assert "messages, statuses, account_updates · Meta's signature" in page.locator(".forward-meta").inner_text()

        dash.sim.customer_message(dash.sandbox, wa_id="4915100000001", name="Ana", text="hi")
        dash.sim.run_due()
        dash.sim.advance("10s")
        page.reload()
        rows = page.locator("table.deliveries tbody tr")
        assert rows.count() == 2
        assert "delivered" in rows.nth(0).inner_text() and "200" in rows.nth(0).inner_text()
        assert "failed" in rows.nth(1).inner_text() and "500" in rows.nth(1).inner_text()

        page.get_by_role("button", name=f"Pause {receiver.url}").click()
        page.wait_for_url("**/forwards?done=paused")
        assert page.locator(".badge").inner_text() == "Paused"
        page.get_by_role("button", name=f"Remove {receiver.url}").click()
        page.wait_for_url("**/forwards?done=removed")
        assert "This channel forwards nothing." in page.locator("#forwarding").inner_text()
    assert len(crm.taken) == 1

"""The settings page says what a save will move in the open chats and saves only once confirmed; the
moved chats' timelines say so (R11)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_a_save_that_moves_open_chats_is_announced_then_confirmed(dash: Dashboard) -> None:
    sim = dash.sim
    sim.update_policy(dash.sandbox, session_timeout="6h", reminder_enabled=False)
    for wa_id in ("15550001111", "15550002222", "15550003333"):
        sim.customer_message(dash.sandbox, wa_id=wa_id, name=wa_id)
    sim.advance("3h")
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    page.locator("#timeout_amount").fill("2")
    page.locator("select[name=timeout_unit]").select_option("h")
    page.locator("#save").click()
    warning = page.locator("#impact")
    expect(warning).to_be_focused()
    expect(warning).to_contain_text("3 open chats will close now")
    assert sim.channel(dash.sandbox).policy.session_timeout.total_seconds() == 6 * 3600  # not yet
    assert len(sim.active_sessions(dash.sandbox)) == 3

    page.get_by_role("button", name="Save anyway").click()
    expect(page.locator("#saved")).to_be_visible()
    assert sim.channel(dash.sandbox).policy.session_timeout.total_seconds() == 2 * 3600
    sim.run_due()
    assert sim.active_sessions(dash.sandbox) == []
    session = sim.session(dash.sandbox, wa_id="15550001111")
    page = dash.open(f"/dashboard/sessions/{session.id}")
    expect(page.locator("ol.timeline")).to_contain_text("A settings change moved this chat's times: it closes now")

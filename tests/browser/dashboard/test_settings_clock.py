"""Issue 23: settings show times on the 24-hour clock like every other page ("00:00", never "12:00 AM")."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Dashboard


def test_the_anchor_time_is_24_hour(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    anchor = page.get_by_label("Anchor time (24-hour, HH:MM)")
    expect(anchor).to_have_value("00:00")
    assert anchor.evaluate("el => el.type") == "text"  # a time input would show the browser's 12-hour clock
    anchor.fill("15:30")
    assert anchor.evaluate("el => el.checkValidity()")
    anchor.fill("3 PM")
    assert not anchor.evaluate("el => el.checkValidity()")

"""R23 in a real browser: the cap set in settings, the usage page, the free window on a session page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser

ANA = "15550001111"


def test_cap_usage_and_free_window_in_the_browser(dash: Dashboard) -> None:
    sim = dash.sim
    page = dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    page.locator("#automated_monthly_cap").fill("3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_have_text("Settings saved successfully")
    assert sim.channel(dash.sandbox).policy.automated_monthly_cap == 3
    sim.entry_point(dash.sandbox, ANA)
    sim.customer_message(dash.sandbox, wa_id=ANA, name="Ana Silva")
    sim.advance("1h10s")
    page.get_by_role("link", name="Usage").click()
    expect(page.locator("#usage-automated")).to_contain_text(re.compile(r"1\s+of 3 allowed"))
    expect(page.locator("table.usage-priced")).to_contain_text("free_entry_point")
    page.locator("#month").fill("2026-02")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#usage-automated")).to_contain_text(re.compile(r"0\s+of 3 allowed"))
    page = dash.open(f"/dashboard/sessions/{sim.session(dash.sandbox, wa_id=ANA).id}")
    expect(page.locator("#free-window")).to_contain_text("free until Thu 08 Jan 16:00")

"""Issue 23: searching the chat list for words of a message, in chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Dashboard


def test_search_a_word_a_customer_wrote(dash: Dashboard) -> None:
    dash.sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Where is my parcel?")
    dash.sim.customer_message(dash.sandbox, wa_id="15550002222", name="Bruno Costa", text="I want a refund")
    page = dash.login()
    expect(page.locator("tr.chat")).to_have_count(2)
    page.get_by_placeholder("Name, phone or message").fill("REFUND")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr.chat")).to_have_count(1)
    expect(page.locator("tr.chat td.contact a")).to_have_text("Bruno Costa")

"""Issue 23: a snoozed chat's reminder reads the same on the chat list and the session page in chromium
(domain.plan.reminder_status), never "pending" for a step the wake will skip."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_a_snoozed_chat_says_the_same_on_the_list_and_its_page(dash: Dashboard) -> None:
    sim = dash.sim
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="hi")  # step 1 at 16:00
    sim.snooze(dash.sandbox, wa_id="15550001111", until="90m")  # until 16:30
    page = dash.login()
    listed = page.locator("#chat-list [data-reminder]")
    expect(listed).to_have_text("step 1 skipped: snoozed until Mon 05 Jan 16:30 UTC")
    page.get_by_role("link", name="Ana Silva").click()
    expect(page.locator("dd[data-reminder]")).to_have_text("step 1 skipped: snoozed until Mon 05 Jan 16:30 UTC")
    expect(page.get_by_text("pending", exact=False)).to_have_count(0)

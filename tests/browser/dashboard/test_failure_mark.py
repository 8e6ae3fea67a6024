"""Issue 23: a send WhatsApp refused is marked on the chat list row, and the chat says why in words."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Dashboard


def test_a_refused_reminder_is_marked_on_the_list_row_and_explained_in_the_chat(dash: Dashboard) -> None:
    sim = dash.sim
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Is it ready?")
    sim.customer_message(dash.sandbox, wa_id="15550002222", name="Bruno Costa", text="Hello")
    sim.fake.fail_next(132001, details="template name (x) does not exist in en_US")
    sim.advance("1h")  # the reminders fall due; Ana's (the first sent) is refused
    sim.advance("1m")
    failed = [s for s in sim.active_sessions(dash.sandbox) if any(m.status == "failed" for m in sim.transcript(s.id))]
    assert len(failed) == 1
    dash.login()
    page = dash.open("/dashboard/chats")
    row = page.locator(f"tr.chat[data-session-id='{failed[0].id}']")
    expect(row.locator(".send-failed")).to_have_text("⚠ Not sent")
    others = page.locator("tr.chat .send-failed")
    expect(others).to_have_count(1)  # the other chat's reminder went out: no mark
    row.locator("td.contact a").click()
    expect(page.locator("body")).to_contain_text("The template does not exist in this language or is not approved")

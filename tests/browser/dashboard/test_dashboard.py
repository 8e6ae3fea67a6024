"""The dashboard in a real browser: login, settings, preview, sandbox, countdowns, the reply box."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Dashboard

# Collected without Playwright too, so the run says why these tests were skipped.
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_log_in_and_save_settings(dash: Dashboard) -> None:
    page = dash.log_in_with_the_form()
    expect(page.get_by_role("heading", name="Active chats")).to_be_visible()
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("WhatsApp Session Management"))).to_be_visible()
    page.get_by_label("Step 1 time").fill("20")  # the first reminder's one place (issue 23)
    page.locator("#timeout_amount").fill("22")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_have_text("Settings saved successfully")
    expect(page.get_by_label("Step 1 time")).to_have_value("20")
    expect(page.locator("#first-reminder")).to_contain_text("20 hours after the customer's message")
    policy = dash.sim.channel(dash.sandbox).policy
    assert policy.reminder_after_hours == 20 and policy.session_timeout.total_seconds() == 22 * 3600


def test_24_hours_shows_a_field_error(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    page.get_by_label("Step 1 time").fill("24")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-reminder_steps")).to_have_text(
        "Reminder ladder: step 1: after must be between 1 minute and 23 hours 55 minutes; it was 1 day"
    )
    expect(page.locator("#saved")).to_have_count(0)
    assert dash.sim.channel(dash.sandbox).policy.reminder_after_hours == 1


def test_the_preview_follows_the_template(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    preview = page.locator("#preview")
    expect(preview).to_have_text("Hi Ana! Following up on our conversation. Still interested? Let me know!")
    area = page.locator("#reminder_template")
    area.fill("Hello ")
    page.get_by_role("button", name="{contact_lastname}").click()  # inserted at the cursor
    area.press("End")
    area.type(", this is {company_name|our team}.")
    expect(preview).to_have_text("Hello Silva, this is our team.")
    page.locator("#company_name").fill("Acme")
    expect(preview).to_have_text("Hello Silva, this is Acme.")
    area.fill("Hi {nope}")
    expect(page.locator("#preview-error")).to_contain_text("unknown merge field '{nope}'")


def test_a_sandbox_message_appears_in_active_chats_with_its_countdown(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/sandbox")
    page.get_by_label("Message").fill("Hi, is my order ready?")
    page.get_by_role("button", name="Send as customer").click()
    expect(page.locator(".transcript .bubble.in")).to_contain_text("Hi, is my order ready?")

    page = dash.open("/dashboard/chats")
    row = page.locator("tr.chat", has_text="Ana Silva")
    expect(row).to_be_visible()
    window = row.locator("td.window .countdown")
    expect(window).to_have_text(re.compile(r"^(24h 00m 00s|23h 59m \d\ds)$"))
    expect(row.locator("td.closure .countdown")).to_have_text(re.compile(r"^(2h 00m 00s|1h 59m \d\ds)$"))
    expect(row.locator(".awaiting-agent")).to_have_text("Agent")
    expect(row).not_to_have_class(re.compile("closing-soon"))

    dash.sim.advance("1h")  # the reminder is due after 1 hour of silence
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/sandbox")
    expect(page.locator(".transcript .bubble.out.kind-reminder")).to_contain_text("Hi Ana! Following up")


def test_a_window_closing_within_the_hour_is_highlighted(dash: Dashboard) -> None:
    dash.sim.update_policy(dash.sandbox, session_timeout="3d", reminder_enabled=False)
    dash.sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="hello")
    dash.sim.advance("23h30m")
    page = dash.login()
    row = page.locator("tr.chat", has_text="Ana Silva")
    expect(row).to_have_class(re.compile("closing-soon"))
    expect(row.locator("td.window .countdown")).to_have_text(re.compile(r"^(30m 00s|29m \d\ds)$"))


def test_the_reply_box_is_disabled_once_the_window_has_closed(dash: Dashboard) -> None:
    dash.sim.update_policy(dash.sandbox, session_timeout="3d", reminder_enabled=False)
    dash.sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="hello")
    session_id = dash.sim.session(dash.sandbox, wa_id="15550001111").id
    dash.login()
    page = dash.open(f"/dashboard/sessions/{session_id}")
    expect(page.locator("#reply-body")).to_be_enabled()
    page.locator("#reply-body").fill("On its way!")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".transcript")).to_contain_text("On its way!")

    dash.sim.advance("24h")
    page = dash.open(f"/dashboard/sessions/{session_id}")
    expect(page.locator("#reply-body")).to_be_disabled()
    expect(page.locator("#reply-reason")).to_contain_text(
        "the 24-hour customer service window closed at Tue 06 Jan 15:00 UTC"
    )
    expect(page.get_by_role("button", name="Send template")).to_be_visible()

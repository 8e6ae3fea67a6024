"""The settings page's reminder ladder editor (issue 13) in a real browser: add and remove steps, merge-field
buttons and the live preview per step, then save and read the ladder back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import Dashboard
from wasession.domain.ladder import ReminderStep

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_the_ladder_editor_adds_removes_previews_and_saves_steps(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    steps = page.locator("#steps [data-step]")
    expect(steps).to_have_count(1)  # the sandbox's one reminder after 1 hour
    page.locator("#timeout_amount").fill("48")
    add = page.get_by_role("button", name="Add step")
    add.click()
    add.click()
    expect(steps).to_have_count(3)
    expect(add).to_be_disabled()  # three steps at most

    page.get_by_label("Step 2 time").fill("5")
    second = page.get_by_label("Step 2 message")
    second.fill("Hi ")
    page.get_by_role("button", name="Step 2 merge field contact_firstname").click()
    second.press("End")
    second.type(", still there?")
    expect(steps.nth(1).locator("[data-step-preview]")).to_have_text("Hi Ana, still there?")
    expect(steps.nth(0).locator("[data-step-preview]")).to_have_text(re.compile("^Hi Ana! Following up"))

    steps.nth(2).get_by_role("button", name="Remove step").click()
    expect(steps).to_have_count(2)
    expect(add).to_be_enabled()
    add.click()
    page.get_by_label("Step 3 time").fill("30")
    page.get_by_label("Step 3 unit").select_option("m")
    page.get_by_label("Step 3 measured").select_option("before_window_closes")
    page.get_by_label("Step 3 message").fill("Last call, {contact_firstname|friend}!")
    expect(steps.nth(2).locator("[data-step-preview]")).to_have_text("Last call, Ana!")

    page.get_by_role("button", name="Save").click()
    expect(page.locator("#saved")).to_have_text("Settings saved successfully")
    policy = dash.sim.channel(dash.sandbox).policy
    assert policy.reminder_steps == (
        ReminderStep(after=timedelta(hours=1)),
        ReminderStep(after=timedelta(hours=5), template="Hi {contact_firstname}, still there?"),
        ReminderStep(before_window_closes=timedelta(minutes=30), template="Last call, {contact_firstname|friend}!"),
    )
    expect(page.locator("#steps [data-step]")).to_have_count(3)  # read back from the saved policy

    # A step out of order is refused on the page, naming the field, and nothing is saved.
    page.get_by_label("Step 2 time").fill("30")
    page.get_by_label("Step 2 unit").select_option("m")
    page.get_by_label("Step 1 time").fill("2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-reminder_steps")).to_contain_text("step 2 (30 minutes after the customer's message)")
    assert dash.sim.channel(dash.sandbox).policy == policy


def test_snooze_from_the_session_page_shows_in_active_chats_with_the_next_step(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/sandbox")
    page.get_by_label("Message").fill("Is my order ready?")
    page.get_by_role("button", name="Send as customer").click()
    expect(page.locator(".transcript .bubble.in")).to_contain_text("Is my order ready?")

    page = dash.open("/dashboard/chats")
    row = page.locator("tr.chat", has_text="Ana Silva")
    expect(row.locator("[data-flag=next-step]")).to_contain_text("step 1 at Mon 05 Jan 16:00")
    row.get_by_role("link", name="Ana Silva").click()
    page.get_by_label("Snooze for").select_option("4h")
    page.get_by_role("button", name="Snooze").click()
    expect(page.get_by_role("status")).to_have_text("Snoozed: no reminder and no automatic closure until then.")
    expect(page.locator("[data-flag=snoozed]")).to_be_visible()

    page = dash.open("/dashboard/chats")
    expect(page.locator("tr.chat", has_text="Ana Silva").locator("[data-flag=snoozed]")).to_have_text("Snoozed")
    dash.sim.advance("3h")  # past the 1 h reminder and the 2 h closure: neither happens while snoozed
    assert not [m for m in dash.sim.outbox(dash.sandbox) if "Following up" in (m.body or "")]
    assert [s.status for s in dash.sim.active_sessions(dash.sandbox)] == ["active"]
    page = dash.open("/dashboard/chats")
    page.locator("tr.chat", has_text="Ana Silva").get_by_role("link", name="Ana Silva").click()
    page.get_by_role("button", name="Wake now").click()
    expect(page.get_by_role("status")).to_have_text("Awake: the timeout counts again from now.")
    expect(page.locator("[data-flag=snoozed]")).to_have_count(0)
    (awake,) = dash.sim.active_sessions(dash.sandbox)
    assert awake.snoozed_until is None and awake.closes_at == dash.sim.now + timedelta(hours=2)

"""Issue 23: one navigation entry per concern however many channels there are; the channel is chosen
inside the page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Dashboard


def test_one_entry_per_concern_and_the_channel_chosen_inside(dash: Dashboard) -> None:
    second = dash.sim.add_channel(name="Support")
    dash.sim.add_channel(name="Sales")
    page = dash.login()
    links = page.locator("header.topbar nav a")
    expect(links).to_have_text(["Active chats", "Canned replies", "Settings", "Usage", "Sandbox"])
    links.filter(has_text="Settings").click()
    switch = page.locator("nav.channel-switch a")
    expect(switch).to_have_text(["Sandbox", "Support", "Sales"])
    expect(page.locator("nav.channel-switch a.current")).to_have_text("Sandbox")
    switch.filter(has_text="Support").click()
    page.wait_for_url(f"**/dashboard/channels/{second.id}/settings")
    expect(page.locator("nav.channel-switch a.current")).to_have_text("Support")
    page.locator("header.topbar nav a", has_text="Usage").click()
    page.wait_for_url(f"**/dashboard/channels/{second.id}/usage")  # the channel chosen stays chosen

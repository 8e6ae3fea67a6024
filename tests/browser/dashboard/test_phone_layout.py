"""Issue 23: on a phone the chat filters fold behind one control, and the reply box is reachable
without scrolling past a long transcript."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Dashboard

PHONE = {"width": 390, "height": 844}


def test_filters_fold_on_a_phone_and_stay_a_row_on_a_wide_screen(dash: Dashboard) -> None:
    dash.sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="hi")
    page = dash.login()
    channel = page.locator("select[name=channel]")
    expect(channel).to_be_visible()  # wide: every filter in view
    dash.page.set_viewport_size(PHONE)
    page = dash.open("/dashboard/chats")
    expect(channel).to_be_hidden()
    first_chat = page.locator("tr.chat").first.bounding_box()
    assert first_chat is not None and first_chat["y"] < PHONE["height"] / 2, first_chat
    page.locator("details.more-filters > summary").click()
    expect(channel).to_be_visible()
    page = dash.open(f"/dashboard/chats?channel={dash.sandbox.id}")
    expect(channel).to_be_visible()  # a filter in use stays unfolded


def test_the_reply_box_follows_a_long_transcript_on_a_phone(dash: Dashboard) -> None:
    sim = dash.sim
    for i in range(30):
        sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text=f"Message number {i} " * 5)
    session_id = sim.session(dash.sandbox, wa_id="15550001111").id
    dash.login()
    dash.page.set_viewport_size(PHONE)
    page = dash.open(f"/dashboard/sessions/{session_id}")
    transcript = page.locator("#transcript").bounding_box()
    reply = page.locator("#reply-body").bounding_box()
    assert transcript is not None and reply is not None
    assert transcript["height"] <= PHONE["height"] / 2 + 1
    assert reply["y"] - (transcript["y"] + transcript["height"]) < 120  # right below it, not after 30 messages
    expect(page.locator("#transcript .bubble").last).to_be_in_viewport()

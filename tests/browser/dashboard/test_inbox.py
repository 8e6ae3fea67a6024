"""The chat list as a work queue in a real browser: live updates from signed webhooks posted to the
real server, search, the urgent-first order, times in the channel's zone, the closed view and reopen,
and a 390 px wide phone layout."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Dashboard
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.channels import Channel
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser

LIVE = 10_000  # ms: a change reaches an open page well within the live stream's fallback look


def post_signed_webhook(dash: Dashboard, channel: Channel, wa_id: str, name: str, text: str) -> None:
    """A customer message as Meta sends it: to the served app over HTTP, signed with the app secret."""
    body = text_message_body(
        phone_number_id=channel.phone_number_id,
        wa_id=wa_id,
        name=name,
        text=text,
        timestamp=dash.sim.now,
        wamid=new_wamid(),
    )
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(dash.sim.app_secret, raw)}
    response = httpx.post(dash.url + "/webhooks/whatsapp", content=raw, headers=headers, timeout=10)
    assert response.status_code == 200


def rows(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("tr.chat td.contact a").all_inner_texts()]


def test_a_new_customer_message_appears_in_the_open_list_and_session_page_without_a_reload(
    dash: Dashboard,
) -> None:
    dash.sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Hi there")
    session_id = dash.sim.session(dash.sandbox, wa_id="15550001111").id
    chats = dash.login()
    expect(chats.locator("#live-status")).to_have_text("Live")
    chats.evaluate("window.notReloaded = true")
    session = chats.context.new_page()
    session.goto(f"{dash.url}/dashboard/sessions/{session_id}")
    expect(session.locator("#live-status")).to_have_text("Live")
    session.evaluate("window.notReloaded = true")
    session.locator("#reply-body").fill("a draft the redraw must keep")

    post_signed_webhook(dash, dash.sandbox, "15550002222", "Bruno Costa", "Where is my parcel?")
    expect(chats.locator("tr.chat", has_text="Bruno Costa")).to_contain_text("Where is my parcel?", timeout=LIVE)
    expect(chats.locator("#chat-count")).to_have_text("1–2 of 2")
    expect(chats.locator("tr.chat", has_text="Bruno Costa").locator(".unread-flag")).to_have_text("New")

    post_signed_webhook(dash, dash.sandbox, "15550001111", "Ana Silva", "Are you still there?")
    expect(session.locator("#transcript")).to_contain_text("Are you still there?", timeout=LIVE)
    expect(session.locator("#reply-body")).to_have_value("a draft the redraw must keep")
    assert chats.evaluate("window.notReloaded") and session.evaluate("window.notReloaded")


def test_the_list_puts_the_window_closing_soonest_first_and_searches(dash: Dashboard) -> None:
    sim = dash.sim
    shop = sim.add_channel(name="Shop", session_timeout="48h", timezone="America/Sao_Paulo")
    for wa_id, name in (("5511900000001", "Ana Silva"), ("5511900000002", "Bruno Costa")):
        sim.customer_message(shop, wa_id=wa_id, name=name, text=f"hello from {name}")
        sim.advance("1h")
    sim.customer_message(shop, wa_id="5511900000003", name="Carla Mendes", text="hi")
    sim.advance("1m")
    sim.customer_message(shop, wa_id="5511900000001", name="Ana Silva", text="me again")  # Ana's window renews
    page = dash.login()
    assert rows(page) == ["Bruno Costa", "Carla Mendes", "Ana Silva"]
    bruno = page.locator("tr.chat", has_text="Bruno Costa")
    # 16:00 UTC + 24 h is 13:00 in São Paulo, whose tzdata abbreviation is only "-03": the name is shown
    expect(bruno.locator("td.window .sub")).to_have_text("at Tue 06 Jan 13:00 America/Sao_Paulo")
    page.get_by_label("Sort").select_option("last_message")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile("sort=last_message"))
    assert rows(page)[0] == "Ana Silva"

    page.get_by_label("Search").fill("COSTA")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile("q=COSTA"))
    assert rows(page) == ["Bruno Costa"]
    expect(page.locator("#chat-count")).to_have_text("1–1 of 1")
    page.get_by_label("Search").fill("5511900000003")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile("q=5511900000003"))
    assert rows(page) == ["Carla Mendes"]


def test_close_asks_first_then_the_closed_view_lists_it_and_reopen_brings_it_back(dash: Dashboard) -> None:
    sim = dash.sim
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Thanks, that is all")
    page = dash.login()
    page.get_by_role("link", name="Ana Silva").click()
    page.get_by_role("button", name="Close session…").click()
    expect(page.get_by_role("heading", name="Close the chat with Ana Silva?")).to_be_visible()
    assert sim.session(dash.sandbox, wa_id="15550001111").status == "active"  # only asked so far
    page.get_by_role("button", name="Yes, close it").click()
    expect(page.get_by_role("status")).to_have_text("Session closed.")

    page = dash.open("/dashboard/chats")
    expect(page.locator(".empty")).to_contain_text("No active chats")
    page.get_by_role("link", name="Closed chats").click()
    row = page.locator("tr.chat", has_text="Ana Silva")
    expect(row.locator("td.closure")).to_contain_text("by an agent")
    row.get_by_role("link", name="Ana Silva").click()
    expect(page.locator("#reply-reopens")).to_contain_text("Sending reopens the session")
    page.get_by_role("button", name="Reopen session").click()
    expect(page.get_by_role("status")).to_have_text("Session reopened.")
    assert sim.session(dash.sandbox, wa_id="15550001111").status == "active"
    expect(page.locator(".timeline")).to_contain_text("Session reopened by an agent")


def test_a_returning_customer_s_earlier_sessions_are_on_the_session_page(dash: Dashboard) -> None:
    sim = dash.sim
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="first visit")
    sim.advance("3h")  # the sandbox's 2 h timeout closed it
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="back again")
    current = sim.session(dash.sandbox, wa_id="15550001111").id
    dash.login()
    page = dash.open(f"/dashboard/sessions/{current}")
    history = page.locator("#history")
    expect(history).to_contain_text("Mon 05 Jan 15:00 UTC · Sandbox")  # the reminder was its last message
    expect(history.locator(".badge")).to_have_text("closed")


@pytest.mark.parametrize("path", ["/dashboard/chats", "session"])
def test_a_phone_wide_screen_has_no_horizontal_scroll(dash: Dashboard, path: str) -> None:
    sim = dash.sim
    sim.customer_message(
        dash.sandbox, wa_id="15550001111", name="Ana Maria da Silva Pereira", text="A long first message " * 8
    )
    for i in range(3):
        sim.add_channel(name=f"Second channel {i}")
    session_id = sim.session(dash.sandbox, wa_id="15550001111").id
    dash.login()
    dash.page.set_viewport_size({"width": 390, "height": 844})
    page = dash.open(path if path.startswith("/") else f"/dashboard/sessions/{session_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    header = page.locator("header.topbar").bounding_box()
    for item in page.locator("header.topbar a, header.topbar .user, header.topbar button").all():
        box = item.bounding_box()
        if box is None:
            continue
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] >= header["y"] and box["y"] + box["height"] <= header["y"] + header["height"]

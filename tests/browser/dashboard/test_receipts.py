"""Issue 26 in a real browser: opening a chat sends WhatsApp's read receipt, typing in the reply box its
typing indicator, at most once per 20 s."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_opening_a_chat_and_typing_show_on_whatsapp(dash: Dashboard) -> None:
    sim = dash.sim
    sim.update_policy(dash.sandbox, read_receipts=True)
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana", wamid="wamid.ANA1")
    dash.login()
    page = dash.open(f"/dashboard/sessions/{sim.session(dash.sandbox, wa_id='15550001111').id}")
    pnid = dash.sandbox.phone_number_id
    page.wait_for_function("() => true")
    with page.expect_response(lambda r: r.url.endswith("/whatsapp/typing")) as typed:
        page.locator("#reply-body").press_sequentially("Hel")
    assert typed.value.json() == {"sent": True}
    page.locator("#reply-body").press_sequentially("lo")  # within 20 s: no second indicator
    got = [(r.message_id, r.typing) for r in sim.fake.receipts(pnid)]
    assert got == [("wamid.ANA1", False), ("wamid.ANA1", True)]

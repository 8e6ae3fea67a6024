"""R23 in a real browser: the usage page shows money from the rate card, without side-scrolling at 1280
and 390 px."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import WIDTHS, Dashboard
from tests.service.money.test_rates import LONG_CARD
from wasession.services import rates as rates_service

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_usage_page_shows_money_without_side_scroll(dash: Dashboard) -> None:
    sim = dash.sim
    sim.run_until("2026-11-02T09:00:00Z")  # service replies are billed from October 2026
    rates_service.import_rate_card(sim.runtime.ctx, dash.sandbox.workspace_id, LONG_CARD)
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana")
    sim.customer_message(dash.sandbox, user_id="US.1349120865", name="Cy")
    sim.advance("1h10s")
    dash.login()
    for width in WIDTHS:  # each on a fresh load, in one browser context
        dash.page.set_viewport_size({"width": width, "height": 900})
        page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/usage")
        expect(page.locator("#usage-cost")).to_contain_text("0.0035 USD")
        expect(page.locator("#usage-unknown-market")).to_contain_text(re.compile(r"1 billable .* market unknown"))
        expect(page.locator("table.usage-priced")).to_contain_text("0.0035")
        wide = page.evaluate(
            "[...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > innerWidth)"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (width, wide)

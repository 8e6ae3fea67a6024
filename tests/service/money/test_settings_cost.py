"""R23 in the policy editor: the budget setting, and what the ladder would have cost last month, shown
before saving."""

from __future__ import annotations

import re

import httpx

from tests.support.money import Money
from tests.support.web import PASSWORD, Browser
from wasession.services import rates as rates_service
from wasession.testing.harness import add_admin, add_sandbox_channel, served

CARD = "calling_code,category,price,currency\n1,service,0.0100,USD\n"
SETTINGS = {
    "reminder_enabled": "true",
    "reminder_after_hours": "20",
    "reminder_template": "Hi {contact_firstname}, still there?",
    "company_name": "Acme",
    "timeout_amount": "21",
    "timeout_unit": "h",
    "check_mode": "exact",
    "check_amount": "1",
    "check_unit": "h",
    "closure_check_anchor": "00:00",
    "timezone": "UTC",
}


def test_the_editor_shows_last_months_cost_before_saving_and_saves_the_budget(money: Money) -> None:
    sim = money.sim
    sim.run_until("2026-10-05T09:00:00Z")
    channel = add_sandbox_channel(sim, session_timeout="2h")  # reminders off
    for n in range(3):
        sim.customer_message(channel, wa_id=f"1555000111{n}", name="Ana")
    sim.customer_message(channel, user_id="US.123456789", name="Cy")
    sim.run_until("2026-11-03T09:00:00Z")
    rates_service.import_rate_card(sim.runtime.ctx, money.workspace_id, CARD)
    add_admin(sim, "admin", PASSWORD)
    browser = Browser(sim)
    assert browser.login().status_code == 303
    path = f"/dashboard/channels/{channel.id}/settings"
    assert "ladder-cost" not in browser.get(path).text  # no automated sends in the stored policy
    asked = browser.post(path, {**SETTINGS, "automated_monthly_budget": "12.5"})
    assert asked.status_code == 200  # a dry run: nothing saved yet
    assert (
        "automated sends would cost ≈ 0.03 USD at last month&#39;s volume (4 chats × 1 automated sends each"
        in asked.text
    )
    assert "1 chats with customers known only by a username are not priced" in asked.text
    assert sim.channel(channel).policy.automated_monthly_budget is None
    confirmed = browser.post(path, {**SETTINGS, "automated_monthly_budget": "12.5", "confirm": "yes"})
    assert confirmed.status_code == 303
    assert str(sim.channel(channel).policy.automated_monthly_budget) == "12.50"
    page = browser.get(path).text
    assert re.search(r'id="automated_monthly_budget"[^>]*value="12.50"', page)
    assert re.search(r'id="ladder-cost">This policy: ≈ 0.03 USD at last month', page)
    with served(sim) as url:  # the API's dry run says the same
        preview = httpx.post(
            f"{url}/api/v1/channels/{channel.id}/policy/preview",
            json={"reminder_steps": [{"after": "1h"}, {"after": "2h"}]},
            headers=money.headers,
        )
    assert preview.status_code == 200, preview.text
    assert preview.json()["automated_cost_last_month"].startswith("≈ 0.06 USD at last month's volume (4 chats × 2")
    bad = browser.post(path, {**SETTINGS, "automated_monthly_budget": "-3", "confirm": "yes"})
    assert bad.status_code == 422 and 'id="error-automated_monthly_budget"' in bad.text
    assert str(sim.channel(channel).policy.automated_monthly_budget) == "12.50"

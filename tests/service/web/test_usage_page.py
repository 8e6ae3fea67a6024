"""R23 on the dashboard: the usage panel and the session page's free window and referral."""

from __future__ import annotations

import re

from tests.support.web import Browser, customer_writes
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.channels import Channel
from wasession.testing import Simulator

ANA = "15550001111"


def test_usage_panel_counts_the_month_and_names_a_bad_month(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    sim.update_policy(sandbox, automated_monthly_cap=5)
    assert customer_writes(browser, sandbox).status_code == 303
    sim.advance("1h10s")  # the reminder went out and Meta's statuses came back
    page = browser.get(f"/dashboard/channels/{sandbox.id}/usage")
    assert page.status_code == 200
    assert "Usage in 2026-01" in page.text
    assert re.search(r'id="usage-automated">1\s+of 5 allowed', page.text)
    assert "free_customer_service" in page.text and f'href="/dashboard/channels/{sandbox.id}/usage"' in page.text
    february = browser.get(f"/dashboard/channels/{sandbox.id}/usage", month="2026-02")
    assert re.search(r'id="usage-automated">0\s', february.text)
    bad = browser.get(f"/dashboard/channels/{sandbox.id}/usage", month="2026-99")
    assert bad.status_code == 422 and "month must be YYYY-MM" in bad.text
    assert browser.get("/dashboard/channels/999/usage").status_code == 404


def test_session_page_shows_the_free_window_meta_reported_and_the_referral(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    sim.entry_point(sandbox, ANA)
    body = text_message_body(
        phone_number_id=sandbox.phone_number_id, wa_id=ANA, name="Ana", text="hi", timestamp=sim.now, wamid=new_wamid()
    )
    body["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = {
        "source_type": "ad",
        "source_id": "AD7",
        "headline": "Winter <sale>",
    }
    sim.post_webhook(body).raise_for_status()
    session = sim.session(sandbox, wa_id=ANA)
    page = browser.get(f"/dashboard/sessions/{session.id}")
    assert 'id="referral"' in page.text and "Winter &lt;sale&gt;" in page.text
    assert 'id="free-window"' not in page.text
    sim.advance("1h10s")
    page = browser.get(f"/dashboard/sessions/{session.id}")
    assert 'id="free-window"' in page.text and "referral_conversion" in page.text
    assert "free until Thu 08 Jan 16:00" in page.text


def test_the_settings_form_sets_clears_and_refuses_the_cap(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    from tests.service.web.test_forms import GOOD_SETTINGS

    url = f"/dashboard/channels/{sandbox.id}/settings"
    assert browser.post(url, {**GOOD_SETTINGS, "automated_monthly_cap": "40"}).status_code == 303
    assert sim.channel(sandbox).policy.automated_monthly_cap == 40
    assert 'id="automated_monthly_cap"' in browser.get(url).text and 'value="40"' in browser.get(url).text
    assert browser.post(url, GOOD_SETTINGS).status_code == 303  # a form without the field keeps it
    assert sim.channel(sandbox).policy.automated_monthly_cap == 40
    refused = browser.post(url, {**GOOD_SETTINGS, "automated_monthly_cap": "-2", "company_name": "Other"})
    assert refused.status_code == 422 and 'id="error-automated_monthly_cap"' in refused.text
    assert sim.channel(sandbox).policy.company_name == "Acme"  # nothing changed
    assert browser.post(url, {**GOOD_SETTINGS, "automated_monthly_cap": ""}).status_code == 303
    assert sim.channel(sandbox).policy.automated_monthly_cap is None

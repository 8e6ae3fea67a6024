"""The session page in chromium: a failed reply shows its reason in words and a working resend button;
the timeline reads as sentences with delivery ticks and the ids behind a disclosure."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser
ANA = "15550001111"


def _ana(dash: Dashboard) -> int:
    dash.sim.update_policy(dash.sandbox, session_timeout="3d", reminder_enabled=False, timezone="America/Sao_Paulo")
    dash.sim.customer_message(dash.sandbox, wa_id=ANA, name="Ana Silva", text="Where is my order?")
    return dash.sim.session(dash.sandbox, wa_id=ANA).id


def test_a_failed_reply_shows_why_and_resend_sends_it(dash: Dashboard) -> None:
    sid = _ana(dash)
    dash.sim.fake.fail_next(131026)
    dash.login()
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.locator("#reply-body").fill("It ships today")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Reply queued.")
    dash.sim.advance("2s")
    page = dash.open(f"/dashboard/sessions/{sid}")
    failed = page.locator(".bubble.out", has_text="It ships today")
    expect(failed.locator(".problem")).to_have_text(
        "WhatsApp could not deliver to this number: it may not be on WhatsApp or use an old app."
    )
    expect(failed.locator(".tick")).to_contain_text("failed")
    expect(page.locator("dl.facts")).to_contain_text("Agent")  # still awaiting the agent: nobody got an answer
    expect(page.locator("ol.timeline")).to_contain_text("Reply failed: WhatsApp could not deliver")

    failed.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("status")).to_have_text("Message queued again.")
    dash.sim.advance("10s")  # sent, delivered (1 s), read (5 s)
    page = dash.open(f"/dashboard/sessions/{sid}")
    bubbles = page.locator(".bubble.out", has_text="It ships today")
    expect(bubbles).to_have_count(2)
    expect(bubbles.nth(0).get_by_role("button", name="Resend")).to_have_count(0)  # resent once only
    expect(bubbles.nth(1).locator(".tick")).to_have_class(re.compile("tick-read"))
    expect(page.locator("ol.timeline")).to_contain_text("Agent resent a failed message")
    expect(page.locator("dl.facts")).to_contain_text("Customer")


def test_a_retried_reply_says_when_it_is_tried_next(dash: Dashboard) -> None:
    sid = _ana(dash)
    dash.sim.fake.fail_next(131016)  # service unavailable: retried with backoff
    dash.login()
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.locator("#reply-body").fill("One moment")
    page.get_by_role("button", name="Send", exact=True).click()
    dash.sim.run_due()
    page = dash.open(f"/dashboard/sessions/{sid}")
    problem = page.locator(".bubble.out", has_text="One moment").locator(".problem")
    expect(problem).to_contain_text("WhatsApp's service is temporarily unavailable.")
    expect(problem).to_contain_text(re.compile(r"Next attempt Mon 05 Jan 12:00:0\d America/Sao_Paulo"))
    expect(page.get_by_role("button", name="Resend")).to_have_count(0)  # not failed: it is still on its way


def test_the_timeline_reads_as_sentences_with_ticks_and_hidden_ids(dash: Dashboard) -> None:
    sid = _ana(dash)
    dash.login()
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.locator("#reply-body").fill("Hello Ana")
    page.get_by_role("button", name="Send", exact=True).click()
    dash.sim.advance("2s")  # accepted, sent, delivered; not read yet
    page = dash.open(f"/dashboard/sessions/{sid}")
    timeline = page.locator("ol.timeline")
    lines = timeline.locator("li")
    expect(lines).to_have_count(3)  # opened, customer wrote, agent replied: statuses fold onto the reply
    expect(lines.nth(2)).to_contain_text("Agent replied")
    expect(lines.nth(2).locator(".tick")).to_have_class(re.compile("tick-delivered"))
    expect(timeline).not_to_contain_text("None")
    expect(timeline).not_to_contain_text("message_id=")
    wamid = lines.nth(2).locator("details.ids code").first
    expect(wamid).not_to_be_visible()
    lines.nth(2).locator("details.ids summary").click()
    expect(wamid).to_be_visible()
    expect(lines.nth(0)).to_contain_text("Mon 05 Jan 12:00:00 America/Sao_Paulo")  # 15:00 UTC

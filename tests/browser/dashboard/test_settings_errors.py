"""The settings page after a refused save, in chromium: focus is on the error summary, which lists
every bad field by its label; each bad field is aria-invalid and described by its own message."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Dashboard

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_a_refused_save_focuses_the_summary_and_marks_every_bad_field(dash: Dashboard) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    page.locator("#reminder_template").fill("Hi {nope}")
    page.locator("#timeout_amount").fill("0")
    page.locator("#timezone").fill("Nowhere/Land")
    page.locator("#save").click()
    summary = page.locator("#errors")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(3)
    for field_id, error_id in (
        ("reminder_template", "error-reminder_template"),
        ("timeout_amount", "error-session_timeout"),
        ("timezone", "error-timezone"),
    ):
        field = page.locator(f"#{field_id}")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_attribute("aria-describedby", error_id)
        expect(page.locator(f"#{error_id}")).not_to_be_empty()
    expect(page.locator("#company_name")).not_to_have_attribute("aria-invalid", "true")
    # Each error names its field by the label on the page, never by its key (issue 23).
    expect(summary.locator("li")).to_have_text(
        [
            re.compile(r"^Session timeout must be "),
            re.compile(r"^Message: unknown merge field '\{nope\}'"),
            re.compile(r"^Time zone 'Nowhere/Land' is not a known IANA time zone name"),
        ]
    )
    expect(page.locator("#error-timezone")).not_to_contain_text("timezone")
    assert dash.sim.channel(dash.sandbox).policy.reminder_after_hours == 1  # nothing saved

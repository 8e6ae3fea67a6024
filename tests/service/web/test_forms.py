"""Every dashboard form: CSRF refusal, settings, the session page (reply, template, close) and the
sandbox panel; and the workspace boundary."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support.web import PASSWORD, Browser, customer_writes
from wasession.services.channels import SETTINGS_SAVED
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import add_admin

WA_ID = "15550001111"
GOOD_SETTINGS = {
    "reminder_enabled": "true",
    # The first reminder is the ladder's step 1, its one place on the page (issue 23).
    "step_amount_1": "20",
    "step_unit_1": "h",
    "step_kind_1": "after",
    "step_text_1": "",
    "reminder_template": "Hi {contact_firstname}, {company_name} here. Still there?",
    "company_name": "Acme",
    "timeout_amount": "21",  # after the 20 h reminder: a reminder at or after the timeout is refused
    "timeout_unit": "h",
    "check_mode": "interval",
    "check_amount": "12",
    "check_unit": "h",
    "closure_check_anchor": "03:00",
    "timezone": "Europe/Lisbon",
}
FIELD_ERRORS = re.compile(r'<p class="field-error" id="error-([a-z_]+)"')


def _session_id(sim: Simulator, channel: Channel) -> int:
    return sim.session(channel, wa_id=WA_ID).id


def _message_count(sim: Simulator) -> int:
    return sim.message_count()


# -- CSRF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "wrong-token"])
@pytest.mark.parametrize("form", ["logout", "settings", "reply", "template", "close", "sandbox"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    sim: Simulator, sandbox: Channel, browser: Browser, form: str, token: str
) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    path, data = {
        "logout": ("/dashboard/logout", {}),
        "settings": (f"/dashboard/channels/{sandbox.id}/settings", GOOD_SETTINGS),
        "reply": (f"/dashboard/sessions/{sid}/reply", {"body": "hello"}),
        "template": (f"/dashboard/sessions/{sid}/template", {"name": "follow_up", "language": "en"}),
        "close": (f"/dashboard/sessions/{sid}/close", {}),
        "sandbox": (f"/dashboard/channels/{sandbox.id}/sandbox/messages", {"wa_id": "15550002222", "text": "x"}),
    }[form]
    policy_before, messages_before = sim.channel(sandbox).policy, _message_count(sim)
    response = browser.post(path, data, csrf=token)
    assert response.status_code == 403
    assert "security token" in response.text
    # Nothing changed: still logged in, same policy, same messages, session still active.
    assert browser.get("/dashboard/chats").status_code == 200
    assert sim.channel(sandbox).policy == policy_before
    assert _message_count(sim) == messages_before
    assert sim.session(sandbox, wa_id=WA_ID).status == "active"


# -- settings --------------------------------------------------------------------------------------


def test_settings_page_shows_the_stored_policy(sandbox: Channel, browser: Browser) -> None:
    page = browser.get(f"/dashboard/channels/{sandbox.id}/settings")
    assert page.status_code == 200
    assert "WhatsApp Session Management" in page.text
    assert re.search(r'name="step_amount_1"[^>]*value="1"', page.text)
    assert 'name="reminder_after_hours"' not in page.text  # one place for the first reminder: step 1
    assert "The first reminder is step 1 of the" in page.text
    assert '<option value="h" selected>hours</option>' in page.text  # 2h shows as 2 hours
    assert re.search(r'name="timeout_amount"[^>]*value="2"', page.text)


def test_saving_good_settings_says_so_and_stores_them(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    response = browser.post(f"/dashboard/channels/{sandbox.id}/settings", GOOD_SETTINGS)
    assert response.status_code == 303
    page = browser.get(response.headers["location"])
    assert SETTINGS_SAVED in page.text
    policy = sim.channel(sandbox).policy
    assert policy.reminder_after_hours == 20
    assert policy.session_timeout == timedelta(hours=21)
    assert policy.closure_check == timedelta(hours=12)
    assert policy.closure_check_anchor.strftime("%H:%M") == "03:00"
    assert policy.timezone == "Europe/Lisbon" and policy.company_name == "Acme"
    assert 'value="20"' in page.text and "Hi Ana, Acme here. Still there?" in page.text
    # Unticking the box turns reminders off (an unchecked checkbox sends nothing).
    off = {k: v for k, v in GOOD_SETTINGS.items() if k != "reminder_enabled"}
    assert browser.post(f"/dashboard/channels/{sandbox.id}/settings", off).status_code == 303
    assert sim.channel(sandbox).policy.reminder_enabled is False


def test_bad_settings_show_every_field_error_and_change_nothing(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    before = sim.channel(sandbox).policy
    bad = {
        **GOOD_SETTINGS,
        "step_amount_1": "24",
        "reminder_template": "Hi {first_name}",
        "timeout_amount": "91",
        "timeout_unit": "d",
        "closure_check_anchor": "25:00",
        "timezone": "Mars/Olympus",
    }
    response = browser.post(f"/dashboard/channels/{sandbox.id}/settings", bad)
    assert response.status_code == 422
    assert SETTINGS_SAVED not in response.text
    assert FIELD_ERRORS.findall(response.text) == [
        "reminder_template",
        "session_timeout",
        "closure_check_anchor",
        "timezone",
        "reminder_steps",
    ]
    # Errors name the fields by their labels on the page (web/settings.py LABELS), never by key.
    summary = response.text[response.text.index('id="errors"') : response.text.index("</ul>")]
    assert "Session timeout must be between 1 minute and 90 days; it was 91d" in summary
    assert "Anchor time must be a time of day HH:MM" in summary
    assert "Message: unknown merge field" in summary and "{company_name}" in summary  # merge fields stay
    assert "Time zone &#39;Mars/Olympus&#39; is not a known IANA time zone name" in summary
    assert "Reminder ladder: step 1:" in summary
    for key in ("session_timeout", "closure_check_anchor", "timezone", "reminder_steps", "reminder_after_hours"):
        assert f">{key}" not in summary and f" {key} " not in summary, key
    # The form keeps what was typed, so the admin fixes only the mistakes.
    assert 'value="Mars/Olympus"' in response.text and "Hi {first_name}" in response.text
    assert sim.channel(sandbox).policy == before


def test_a_zone_typo_gets_the_near_miss_the_cli_names(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    response = browser.post(f"/dashboard/channels/{sandbox.id}/settings", {**GOOD_SETTINGS, "timezone": "Europe/Lisbn"})
    assert response.status_code == 422
    assert "Time zone &#39;Europe/Lisbn&#39; is not a known IANA time zone name; did you mean Europe/Lisbon?" in (
        response.text
    )
    assert '<datalist id="timezones">' in response.text and '<option value="Europe/Lisbon">' in response.text


def test_a_v1_first_reminder_posted_by_an_old_form_lands_on_step_1(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    old = {k: v for k, v in GOOD_SETTINGS.items() if not k.startswith("step_")}
    response = browser.post(f"/dashboard/channels/{sandbox.id}/settings", {**old, "reminder_after_hours": "30"})
    assert response.status_code == 422
    assert "Reminder ladder, step 1 must be a whole number of hours from 1 to 23" in response.text
    assert 'href="#field-reminder_steps"' in response.text  # shown at the one place the page has for it


def test_preview_renders_with_sample_values_or_explains_the_error(browser: Browser) -> None:
    ok = browser.get("/dashboard/preview", template="Hi {contact_firstname} from {company_name|us}!", company_name="")
    assert ok.json() == {"text": "Hi Ana from us!", "error": None}
    bad = browser.get("/dashboard/preview", template="Hi {nope}")
    assert bad.json()["text"] is None and "unknown merge field '{nope}'" in bad.json()["error"]


# -- the sandbox panel and active chats ------------------------------------------------------------


def test_a_sandbox_customer_message_opens_a_chat_with_countdowns(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    response = customer_writes(browser, sandbox, "Hi, is my order ready?")
    assert response.status_code == 303
    session = sim.session(sandbox, wa_id=WA_ID)
    assert session.status == "active" and session.last_customer_message_at == sim.now
    chats = browser.get("/dashboard/chats").text
    assert "Ana Silva" in chats
    assert f'data-until="{session.window_closes_at.isoformat()}"' in chats
    assert f'data-until="{session.closes_at.isoformat()}"' in chats
    assert "awaiting-agent" in chats and "Eligible for closure" not in chats
    assert 'class="chat closing-soon' not in chats  # 24 h left

    sim.advance("1h")  # the sandbox policy's reminder
    panel = browser.get(f"/dashboard/channels/{sandbox.id}/sandbox").text
    assert "Hi, is my order ready?" in panel
    assert "Hi Ana! Following up on our conversation." in panel

    sim.advance("1h")  # eligible and, with exact closure, closed
    assert "Ana Silva" not in browser.get("/dashboard/chats").text


def test_eligible_sessions_show_the_tick_that_will_close_them(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    browser.post(
        f"/dashboard/channels/{sandbox.id}/settings",
        {
            **GOOD_SETTINGS,
            "reminder_enabled": "",
            "timeout_amount": "23",
            "closure_check_anchor": "00:00",
            "timezone": "UTC",
        },
    )
    customer_writes(browser, sandbox)  # Mon 15:00; eligible Tue 14:00; ticks at 00:00 and 12:00 UTC
    sim.advance("23h30m")
    chats = browser.get("/dashboard/chats").text
    assert "Eligible for closure" in chats
    assert "closed by the tick at Wed 07 Jan 00:00:00 UTC" in chats
    assert 'class="chat closing-soon eligible unread"' in chats  # 30 minutes of window left; never opened


def test_the_chat_list_filters_by_channel(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    other = sim.add_channel(name="Support")
    sim.customer_message(other, wa_id="15559990000", name="Bruno Costa")
    customer_writes(browser, sandbox)
    assert "Bruno Costa" in browser.get("/dashboard/chats").text
    only_sandbox = browser.get("/dashboard/chats", channel=str(sandbox.id)).text
    assert "Ana Silva" in only_sandbox and "Bruno Costa" not in only_sandbox


def test_a_bad_sandbox_message_is_refused_with_the_reason(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    response = browser.post(
        f"/dashboard/channels/{sandbox.id}/sandbox/messages", {"name": "X", "wa_id": "abc", "text": "hi"}
    )
    assert response.status_code == 422 and "wa_id must be the customer&#39;s phone number" in response.text
    assert sim.active_sessions(sandbox) == []


def test_only_sandbox_channels_have_a_sandbox_panel(sim: Simulator, browser: Browser) -> None:
    real = sim.add_channel(name="Support")
    assert browser.get(f"/dashboard/channels/{real.id}/sandbox").status_code == 404
    response = browser.post(f"/dashboard/channels/{real.id}/sandbox/messages", {"wa_id": "1555", "text": "hi"})
    assert response.status_code == 404 and sim.active_sessions(real) == []


# -- the session page ------------------------------------------------------------------------------


def test_reply_inside_the_window_then_refused_with_the_reason_after_it(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    browser.post(
        f"/dashboard/channels/{sandbox.id}/settings",
        {**GOOD_SETTINGS, "timeout_amount": "3", "timeout_unit": "d", "reminder_enabled": ""},
    )
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    response = browser.post(f"/dashboard/sessions/{sid}/reply", {"body": "Yes, it ships today."})
    assert response.status_code == 303
    sim.advance("1s")
    page = browser.get(response.headers["location"]).text
    assert "Yes, it ships today." in page and '<textarea id="reply-body" name="body" rows="3" placeholder' in page

    sim.advance("24h")
    page = browser.get(f"/dashboard/sessions/{sid}").text
    assert 'name="body" rows="3" disabled' in page
    # in the channel's zone (the settings above left it at Europe/Lisbon), named
    assert "the 24-hour customer service window closed at Tue 06 Jan 15:00 WET" in page
    assert 'id="template-form"' in page
    refused = browser.post(f"/dashboard/sessions/{sid}/reply", {"body": "Too late?"})
    assert refused.status_code == 409
    assert "Not sent: the 24-hour customer service window closed at Tue 06 Jan 15:00 WET." in refused.text
    assert "Too late?" not in [m.body for m in sim.transcript(sid)]

    template = browser.post(
        f"/dashboard/sessions/{sid}/template",
        {"name": "order_update", "language": "en_US", "parameters": "Ana\n#1234\n"},
    )
    assert template.status_code == 303
    sim.advance("1s")
    sent = [m for m in sim.outbox(sandbox) if m.type == "template"]
    assert len(sent) == 1


def test_close_button_closes_the_session(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    unconfirmed = browser.post(f"/dashboard/sessions/{sid}/close", {})
    assert unconfirmed.status_code == 200 and 'id="confirm-close"' in unconfirmed.text
    assert sim.session(sandbox, wa_id=WA_ID).status == "active"  # asked, not closed
    response = browser.post(f"/dashboard/sessions/{sid}/close", {"confirm": "yes"})
    assert response.status_code == 303
    session = sim.session(sandbox, wa_id=WA_ID)
    assert session.status == "closed" and session.close_reason == "agent"
    page = browser.get(response.headers["location"]).text
    assert "Session closed." in page and 'id="close-session"' not in page and 'id="reopen-session"' in page
    again = browser.post(f"/dashboard/sessions/{sid}/close", {"confirm": "yes"})
    assert again.status_code == 409 and "already closed" in again.text


# -- workspaces ------------------------------------------------------------------------------------


def test_another_workspace_sees_404_and_changes_nothing(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    add_admin(sim, "outsider", PASSWORD, workspace="other")
    outsider = Browser(sim)
    assert outsider.login("outsider").status_code == 303
    assert "Ana Silva" not in outsider.get("/dashboard/chats").text
    for path in (
        f"/dashboard/channels/{sandbox.id}/settings",
        f"/dashboard/channels/{sandbox.id}/sandbox",
        f"/dashboard/sessions/{sid}",
    ):
        assert outsider.get(path).status_code == 404, path
    before, count = sim.channel(sandbox).policy, _message_count(sim)
    for path, data in (
        (f"/dashboard/channels/{sandbox.id}/settings", GOOD_SETTINGS),
        (f"/dashboard/channels/{sandbox.id}/sandbox/messages", {"wa_id": "15550002222", "text": "hi"}),
        (f"/dashboard/sessions/{sid}/reply", {"body": "hello"}),
        (f"/dashboard/sessions/{sid}/template", {"name": "x", "language": "en"}),
        (f"/dashboard/sessions/{sid}/close", {}),
    ):
        assert outsider.post(path, data).status_code == 404, path
    assert sim.channel(sandbox).policy == before and _message_count(sim) == count
    assert sim.session(sandbox, wa_id=WA_ID).status == "active"
    # The API's own 404s stay JSON.
    api = outsider.get("/api/v1/sessions/999999")
    assert api.status_code in (401, 404) and api.headers["content-type"].startswith("application/json")

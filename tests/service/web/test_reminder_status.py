"""Issue 23 item 5: one reminder status everywhere. The chat list, the session page and the API show
what domain.plan.reminder_status says, true through a snooze, a reopening and business hours."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.support.web import Browser
from wasession.domain.plan import ReminderStatus
from wasession.services import agents
from wasession.services import apikeys as key_service
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.web.timeline import reminder_words

WA_ID = "15550001111"


def _three_views(sim: Simulator, browser: Browser, session_id: int) -> tuple[str | None, str, dict[str, Any]]:
    """The list's reminder line (None when it shows none), the page's, and the API's `reminder`."""
    listed = re.findall(r"data-reminder>([^<]*)<", browser.get("/dashboard/chats").text)
    [on_page] = re.findall(r"<dd data-reminder>([^<]*)<", browser.get(f"/dashboard/sessions/{session_id}").text)
    key = key_service.create_key(sim.runtime.ctx, workspace_id=1, name=f"k{len(sim.timeline(session_id))}").secret
    answer = browser.client.get(f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return (listed[0] if listed else None), on_page, answer.json()["session"]["reminder"]


def _agree(sim: Simulator, browser: Browser, session_id: int, *, in_list: bool = True) -> dict[str, Any]:
    listed, on_page, api = _three_views(sim, browser, session_id)
    at = datetime.fromisoformat(api["at"]) if api["at"] else None
    status = ReminderStatus(api["state"], api["step"], at, api["reason"])
    words = reminder_words(status, UTC)
    assert on_page == words, (on_page, api)
    assert listed == (words if in_list else None), (listed, on_page)
    return api


def test_inside_a_snooze_the_step_it_covers_is_skipped_everywhere(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    sim.customer_message(sandbox, wa_id=WA_ID, name="Ana Silva", text="hi")  # 15:00, step 1 due 16:00
    session_id = sim.session(sandbox, wa_id=WA_ID).id
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["step"], api["at"][:16]) == ("scheduled", 1, "2026-01-05T16:00")
    sim.snooze(sandbox, wa_id=WA_ID, until="90m")  # until 16:30: the wake skips step 1
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["reason"], api["at"][:16]) == ("snoozed", "snoozed", "2026-01-05T16:30")
    assert "Reminder pending" not in browser.get(f"/dashboard/sessions/{session_id}").text
    sim.advance("45m")
    assert sim.outbox(sandbox) == []  # what the three views said: nothing went out inside the snooze
    sim.advance("1h")
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["reason"]) == ("skipped", "snoozed")
    assert sim.outbox(sandbox) == []


def test_a_snooze_that_ends_before_the_step_leaves_it_scheduled(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    sim.customer_message(sandbox, wa_id=WA_ID, name="Ana Silva", text="hi")
    session_id = sim.session(sandbox, wa_id=WA_ID).id
    sim.snooze(sandbox, wa_id=WA_ID, until="30m")
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["at"][:16]) == ("scheduled", "2026-01-05T16:00")


def test_a_reopened_chat_tells_one_story(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    sim.customer_message(sandbox, wa_id=WA_ID, name="Ana Silva", text="hi")
    session_id = sim.session(sandbox, wa_id=WA_ID).id
    agents.close_session(sim.runtime.ctx, session_id)
    agents.reopen(sim.runtime.ctx, session_id)
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["reason"]) == ("cancelled", "session_closed")
    sim.advance("90m")
    assert sim.outbox(sandbox) == []  # cancelled is what happened: no reminder after the reopening


def test_business_hours_move_the_step_to_the_opening_everywhere(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    sim.update_policy(sandbox, business_hours={"mon-fri": ["09:00-15:30"]}, session_timeout="24h")
    sim.customer_message(sandbox, wa_id=WA_ID, name="Ana Silva", text="hi")  # Mon 15:00; 16:00 is after hours
    session_id = sim.session(sandbox, wa_id=WA_ID).id
    api = _agree(sim, browser, session_id)
    assert (api["state"], api["reason"], api["at"][:16]) == ("scheduled", None, "2026-01-06T09:00")
    sim.run_until("2026-01-06T09:01:00Z")
    assert len(sim.outbox(sandbox)) == 1  # the reminder, at the opening

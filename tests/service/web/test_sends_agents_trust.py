"""Issue 23: a send retried several times is one timeline line with the count; a reply names its agent."""

from __future__ import annotations

import re

from tests.support.web import Browser
from wasession.store.channels import Channel
from wasession.testing import Simulator


def test_retries_of_one_send_fold_into_one_line(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="hi")
    sim.fake.fail_next(130429, count=4)
    sim.advance("1h")
    sim.advance("2m")
    session = sim.session(sandbox, wa_id="15550001111")
    assert len([e for e in sim.timeline(session) if e.type == "reminder_retry"]) == 4
    page = browser.get(f"/dashboard/sessions/{session.id}").text
    assert len(re.findall(r"Reminder not sent yet, will retry", page)) == 1, page
    assert "(tried 4 times)" in page


def test_a_reply_names_the_agent_who_wrote_it(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="hi")
    session = sim.session(sandbox, wa_id="15550001111")
    answer = browser.post(f"/dashboard/sessions/{session.id}/reply", {"body": "On its way"})
    assert answer.status_code in (200, 303), answer.text
    page = browser.get(f"/dashboard/sessions/{session.id}").text
    assert re.search(r'<div class="meta">admin · <time', page), page

"""Issue 23: the unread count is in the tab title, and a notification names the contact and their first words."""

from __future__ import annotations

import re

from tests.support.web import Browser
from wasession.services import queries as query_service
from wasession.store.channels import Channel
from wasession.testing import Simulator


def test_the_tab_title_counts_unread_chats(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="hi")
    sim.customer_message(sandbox, wa_id="15550002222", name="Bruno Costa", text="hello")
    title = re.search(r"<title>(.*?)</title>", browser.get("/dashboard/chats").text)
    assert title is not None and title[1].startswith("(2) "), title
    session = sim.session(sandbox, wa_id="15550001111")
    browser.get(f"/dashboard/sessions/{session.id}")  # read
    title = re.search(r"<title>(.*?)</title>", browser.get("/dashboard/chats").text)
    assert title is not None and title[1].startswith("(1) "), title


def test_live_changes_name_the_contact_and_the_first_words(sim: Simulator, sandbox: Channel) -> None:
    ctx = sim.runtime.ctx
    last = query_service.last_change(ctx, workspace_id=sandbox.workspace_id)
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="Is my order  ready? " * 10)
    changes = query_service.changes_since(ctx, last, workspace_id=sandbox.workspace_id)
    assert len(changes.said) == 1
    assert changes.said[0].startswith("Ana Silva: Is my order ready? Is my order")
    assert changes.said[0].endswith("…") and len(changes.said[0]) <= len("Ana Silva: ") + 60

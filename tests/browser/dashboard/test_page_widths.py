"""Issue 23: every dashboard page fits 1280 and 390 px wide with no side-scroll, measured as the
document's width in chromium, with a channel in a far zone and long names."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, Dashboard
from wasession.services import canned_replies as canned_service
from wasession.services import team as team_service
from wasession.services import users as user_service

LONG = "Ana Maria da Conceição Silva Pereira de Albuquerque"
PAGES = [
    "/dashboard/chats",
    "session",
    "close",
    "settings",
    "usage",
    "forwards",
    "sandbox",
    "/dashboard/canned-replies",
    "/dashboard/login",
]


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_without_side_scroll(dash: Dashboard, path: str, width: int) -> None:
    sim = dash.sim
    sim.update_policy(dash.sandbox, timezone="America/Sao_Paulo")
    sim.customer_message(dash.sandbox, wa_id="15550001111", name=LONG, text="A long first message " * 12)
    sim.add_channel(name="A second channel with a rather long name for its number")
    session_id = sim.session(dash.sandbox, wa_id="15550001111").id
    # A team's inbox (issue 23): an assignee with a long name, a note and a canned reply with long words.
    ctx = sim.runtime.ctx
    user_service.create_user(ctx, "maria.conceicao.albuquerque@example.com", PASSWORD, role="agent")
    team_service.assign(ctx, session_id, "maria.conceicao.albuquerque@example.com", workspace_id=1, by="admin")
    team_service.add_note(ctx, session_id, "Order " + "x" * 120 + " " + LONG * 3, workspace_id=1, author="admin")
    canned_service.create(ctx, "/a-rather-long-canned-reply-name", "Thanks {{contact_name}}! " * 20, workspace_id=1)
    if path != "/dashboard/login":
        dash.login()
    dash.page.set_viewport_size({"width": width, "height": 900})
    target = {
        "session": f"/dashboard/sessions/{session_id}",
        "close": f"/dashboard/sessions/{session_id}/close",
        "settings": f"/dashboard/channels/{dash.sandbox.id}/settings",
        "usage": f"/dashboard/channels/{dash.sandbox.id}/usage",
        "forwards": f"/dashboard/channels/{dash.sandbox.id}/forwards",
        "sandbox": f"/dashboard/channels/{dash.sandbox.id}/sandbox",
    }.get(path, path)
    if path == "/dashboard/login":
        dash.page.context.clear_cookies()
    page = dash.open(target)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, target

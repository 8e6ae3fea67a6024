"""Issue 23: every dashboard page fits 1280 and 390 px wide with no side-scroll, measured as the
document's width in chromium, with a channel in a far zone and long names: the chat lists (active and
closed), a session (open and closed), settings (plain, and with a three-step ladder, business hours and
a closing message), usage, the relay's forwards, Chatwoot, the sandbox and the login page. Chatwoot with
a connection is measured in tests/browser/chatwoot/test_dashboard.py."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, WIDTHS, Dashboard
from wasession.services import agents
from wasession.services import canned_replies as canned_service
from wasession.services import forwards as forward_service
from wasession.services import team as team_service
from wasession.services import users as user_service

LONG = "Ana Maria da Conceição Silva Pereira de Albuquerque"
PAGES = [
    "/dashboard/chats",
    "closed",
    "session",
    "closed-session",
    "close",
    "settings",
    "settings-ladder",
    "usage",
    "forwards",
    "/dashboard/chatwoot",
    "sandbox",
    "/dashboard/canned-replies",
    "/dashboard/login",
]
LADDER = [
    {"after": "1h", "template": "Hi {contact_firstname}, " + "still there? " * 10},
    {"after": "3h"},
    {"before_window_closes": "30m", "template": "Last call " * 12},
]


# Both widths in one test per page, each on a fresh load: a browser context and a login cost chromium
# about 0.8 s of CPU, twice what the two loads do.


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_without_side_scroll(dash: Dashboard, path: str) -> None:
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
    sim.customer_message(dash.sandbox, wa_id="15550002222", name=LONG + " Segunda", text="closed " * 30)
    closed_id = sim.session(dash.sandbox, wa_id="15550002222").id
    agents.close_session(sim.runtime.ctx, closed_id)
    if path == "forwards":  # a target with a long address and description, as the relay page lists it
        forward_service.create_forward(
            sim.runtime.ctx,
            dash.sandbox.id,
            workspace_id=dash.sandbox.workspace_id,
            url="https://crm.example.com/webhooks/whatsapp/a-rather-long-path-with-a-token-1234567890abcdef",
            description="The CRM of the sales team, which reads every message and status",
        )
    if path == "settings-ladder":
        sim.update_policy(
            dash.sandbox,
            session_timeout="24h",
            reminder_steps=LADDER,
            business_hours={"mon-fri": ["09:00-12:00", "13:00-18:00"], "sat": ["10:00-13:00"]},
            closing_message="Thanks for writing to us; this chat is now closed. " * 3,
        )
    if path != "/dashboard/login":
        dash.login()
    target = {
        "closed": "/dashboard/chats?view=closed",
        "session": f"/dashboard/sessions/{session_id}",
        "closed-session": f"/dashboard/sessions/{closed_id}",
        "settings-ladder": f"/dashboard/channels/{dash.sandbox.id}/settings",
        "close": f"/dashboard/sessions/{session_id}/close",
        "settings": f"/dashboard/channels/{dash.sandbox.id}/settings",
        "usage": f"/dashboard/channels/{dash.sandbox.id}/usage",
        "forwards": f"/dashboard/channels/{dash.sandbox.id}/forwards",
        "sandbox": f"/dashboard/channels/{dash.sandbox.id}/sandbox",
    }.get(path, path)
    if path == "/dashboard/login":
        dash.page.context.clear_cookies()
    for width in WIDTHS:
        dash.page.set_viewport_size({"width": width, "height": 900})
        page = dash.open(target)
        if path == "settings-ladder":
            assert page.locator("[data-step]").count() == 3
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (target, width)

"""axe-core (bundled by axe-playwright-python, MPL-2.0) run in chromium against the served pages:
no `serious` or `critical` violation on login, the chat list, a session page and the settings."""

from __future__ import annotations

from typing import Any

import axe_playwright_python.sync_playwright as axe_module  # a [test] dependency: never skipped
import pytest

from tests.browser.conftest import Dashboard

pytestmark = pytest.mark.browser
BLOCKING = ("serious", "critical")


def serious(page: Any) -> list[str]:
    results = axe_module.Axe().run(page).response
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in BLOCKING
    ]


def test_no_serious_violations_on_the_dashboard_pages(dash: Dashboard) -> None:
    sim = dash.sim
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Where is my order?")
    sid = sim.session(dash.sandbox, wa_id="15550001111").id
    sim.fake.fail_next(131026)
    page = dash.open("/dashboard/login")
    assert serious(page) == []
    page = dash.login()
    assert serious(page) == []
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.locator("#reply-body").fill("It ships today")
    page.get_by_role("button", name="Send", exact=True).click()
    sim.advance("2s")  # the reply fails: the page shows the reason and a resend button
    page = dash.open(f"/dashboard/sessions/{sid}")
    assert page.get_by_role("button", name="Resend").count() == 1
    assert serious(page) == []
    sim.advance("25h")  # the window closed: the template picker, fed from Meta's list
    from wasession.services import templates as template_service

    template_service.set_account(sim.runtime.ctx, dash.sandbox.id, "100000000000001")  # an admin's setting
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.get_by_role("button", name="Fetch approved templates").click()
    page.get_by_label("Template", exact=True).select_option("order_update|pt_BR")
    assert serious(page) == []
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    assert serious(page) == []
    page.locator("#timeout_amount").fill("0")
    page.locator("#save").click()
    assert page.locator("#errors").count() == 1
    assert serious(page) == []  # with the error summary and the invalid field


def test_no_serious_violations_on_a_teams_pages(dash: Dashboard) -> None:
    """Issue 23: the session page with an assignee, a private note and the canned-reply picker, and
    the canned replies page with its forms and an error."""
    from wasession.services import canned_replies as canned_service
    from wasession.services import team as team_service

    sim = dash.sim
    ctx = sim.runtime.ctx
    sim.customer_message(dash.sandbox, wa_id="15550001111", name="Ana Silva", text="Where is my order?")
    sid = sim.session(dash.sandbox, wa_id="15550001111").id
    canned_service.create(ctx, "/thanks", "Thanks {{contact_name}}!", workspace_id=dash.sandbox.workspace_id)
    team_service.add_note(ctx, sid, "VIP customer", workspace_id=dash.sandbox.workspace_id, author="admin")
    dash.login()
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.get_by_role("button", name="Take it").click()
    assert page.locator("#team-notice").count() == 1
    assert serious(page) == []
    page = dash.open("/dashboard/canned-replies")
    page.get_by_role("button", name="Add").click()  # empty: refused, the error shown
    assert serious(page) == []

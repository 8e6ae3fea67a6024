"""An agent in a real browser: the chats are there, the settings link is not, and typing the
settings address by hand shows the refusal instead of the form."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, Dashboard
from wasession.services import users as user_service

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser


def test_an_agent_sees_the_chats_but_no_settings(dash: Dashboard) -> None:
    user_service.create_user(dash.sim.runtime.ctx, "ana", PASSWORD, role="agent")
    page = dash.log_in_with_the_form("ana")
    expect(page.get_by_role("heading", name="Active chats")).to_be_visible()
    expect(page.get_by_role("link", name="Settings", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Sandbox", exact=True)).to_be_visible()
    expect(page.locator(".user")).to_have_text("ana (agent)")
    response = page.goto(f"{dash.url}/dashboard/channels/{dash.sandbox.id}/settings")
    assert response is not None and response.status == 403
    expect(page.get_by_text("Only an admin can change settings")).to_be_visible()
    expect(page.locator("form.settings")).to_have_count(0)

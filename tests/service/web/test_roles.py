"""Roles on a real port: an agent reads and answers the chats of their workspace, and is refused
(403, nothing changed) the settings an admin changes; the navigation hides what they cannot use."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service.web.test_forms import GOOD_SETTINGS
from tests.support.web import PASSWORD, Browser, customer_writes
from wasession.services import forwards as forward_service
from wasession.services import users as user_service
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import served


class HttpBrowser(Browser):
    """The same cookie-keeping browser, over real HTTP to uvicorn on a free port."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)  # type: ignore[assignment]


@pytest.fixture
def url(sim: Simulator) -> Iterator[str]:
    with served(sim) as base:
        yield base


def _login(url: str, username: str) -> HttpBrowser:
    browser = HttpBrowser(url)
    assert browser.login(username).status_code == 303
    return browser


@pytest.fixture
def agent(sim: Simulator, sandbox: Channel, url: str) -> HttpBrowser:
    user_service.create_user(sim.runtime.ctx, "ana", PASSWORD, role="agent")
    return _login(url, "ana")


def test_an_agent_is_refused_the_settings_page_and_its_form_and_nothing_changes(
    sim: Simulator, sandbox: Channel, agent: HttpBrowser
) -> None:
    before = sim.channel(sandbox).policy
    page = agent.get(f"/dashboard/channels/{sandbox.id}/settings")
    assert page.status_code == 403 and "Only an admin" in page.text
    refused = agent.post(f"/dashboard/channels/{sandbox.id}/settings", GOOD_SETTINGS)
    assert refused.status_code == 403 and "Only an admin" in refused.text
    assert sim.channel(sandbox).policy == before


def test_an_agent_reads_and_answers_chats_but_sees_no_settings_link(
    sim: Simulator, sandbox: Channel, agent: HttpBrowser
) -> None:
    assert customer_writes(agent, sandbox).status_code == 303  # the sandbox panel: playing the customer
    session = sim.session(sandbox, wa_id="15550001111")
    chats = agent.get("/dashboard/chats")
    assert chats.status_code == 200 and "Ana Silva" in chats.text
    assert f"/dashboard/channels/{sandbox.id}/settings" not in chats.text
    assert "ana (agent)" in chats.text
    replied = agent.post(f"/dashboard/sessions/{session.id}/reply", {"body": "Yes, it is ready."})
    assert replied.status_code == 303
    sim.advance("1s")
    assert "Yes, it is ready." in agent.get(replied.headers["location"]).text


def test_an_admin_keeps_the_settings(sim: Simulator, sandbox: Channel, url: str) -> None:
    user_service.create_user(sim.runtime.ctx, "boss", PASSWORD, role="admin")
    admin = _login(url, "boss")
    assert f"/dashboard/channels/{sandbox.id}/settings" in admin.get("/dashboard/chats").text
    assert admin.post(f"/dashboard/channels/{sandbox.id}/settings", GOOD_SETTINGS).status_code == 303
    assert sim.channel(sandbox).policy.reminder_after_hours == 20


def test_an_agent_is_refused_the_relay_and_usage_pages_and_adds_no_target(
    sim: Simulator, sandbox: Channel, agent: HttpBrowser
) -> None:
    for path in ("forwards", "usage"):
        page = agent.get(f"/dashboard/channels/{sandbox.id}/{path}")
        assert page.status_code == 403 and "Only an admin" in page.text, path
    added = agent.post(f"/dashboard/channels/{sandbox.id}/forwards", {"url": "https://crm.example/hook"})
    assert added.status_code == 403
    assert forward_service.list_forwards(sim.runtime.ctx, sandbox.id, workspace_id=sandbox.workspace_id) == []


def test_an_agent_is_refused_the_business_account_setting(sim: Simulator, sandbox: Channel, agent: HttpBrowser) -> None:
    from wasession.services import templates as template_service

    refused = agent.post(f"/dashboard/channels/{sandbox.id}/account", {"waba_id": "100000000000001"})
    assert refused.status_code == 403 and "Only an admin" in refused.text
    assert template_service.catalog(sim.runtime.ctx, sandbox.id).waba_id is None

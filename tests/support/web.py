"""The dashboard through Starlette's TestClient, on a Simulator (manual clock, fake Cloud API)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import add_admin, add_sandbox_channel

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A TestClient that keeps cookies like a browser and reads CSRF tokens from the pages it gets."""

    def __init__(self, sim: Simulator) -> None:
        self.client = TestClient(sim.app, base_url="http://wasession.test")

    def get(self, path: str, **params: str) -> httpx.Response:
        response: httpx.Response = self.client.get(path, params=params or None, follow_redirects=False)
        return response

    def csrf(self, path: str = "/dashboard/chats") -> str:
        page = self.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"no CSRF field on {path} ({page.status_code})"
        return match[1]

    def post(self, path: str, data: Mapping[str, str], *, csrf: str | None = None) -> httpx.Response:
        """Post a form; `csrf` None takes the token from the logged-in user's pages, "" sends none."""
        token = self.csrf() if csrf is None else csrf
        form = {**data, **({"csrf_token": token} if token else {})}
        response: httpx.Response = self.client.post(path, data=form, follow_redirects=False)
        return response

    def login(self, username: str = "admin", password: str = PASSWORD) -> httpx.Response:
        token = self.csrf("/dashboard/login")
        return self.post("/dashboard/login", {"username": username, "password": password}, csrf=token)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


@pytest.fixture
def sandbox(sim: Simulator) -> Channel:
    return add_sandbox_channel(sim, reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")


@pytest.fixture
def browser(sim: Simulator, sandbox: Channel) -> Browser:
    add_admin(sim, "admin", PASSWORD)
    b = Browser(sim)
    assert b.login().status_code == 303
    return b


def customer_writes(browser: Browser, channel: Channel, text: str = "Hi, is my order ready?") -> httpx.Response:
    return browser.post(
        f"/dashboard/channels/{channel.id}/sandbox/messages",
        {"name": "Ana Silva", "wa_id": "15550001111", "text": text},
    )

"""Browser tests: Debian's chromium driven by Playwright against a Simulator's dashboard served by
uvicorn on a free localhost port. Simulated time moves with sim.advance between page loads.

Without /usr/bin/chromium (or Playwright) the tests skip with the reason; in CI (CI=true) they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wasession.services import users as user_service
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import add_admin, add_sandbox_channel, served
from wasession.web.auth import COOKIE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery"
# Issue 23: every page works at a desktop's width and a phone's.
WIDTHS = (1280, 390)

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (browser tests are mandatory when CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed; pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Dashboard:
    sim: Simulator
    sandbox: Channel
    url: str
    page: Any

    def open(self, path: str) -> Any:
        self.page.goto(self.url + path)
        return self.page

    def login(self) -> Any:
        """The admin's chat list, logged in as the login form would (a session and its cookie) without the
        form: the form cost chromium about 0.4 s of CPU in each of some 35 tests (issue 24). The tests of
        the form itself use `log_in_with_the_form`."""
        login = user_service.authenticate(self.sim.runtime.ctx, "admin", PASSWORD)
        assert login is not None
        self.page.context.add_cookies([{"name": COOKIE, "value": login.token, "url": self.url}])
        return self.open("/dashboard/chats")

    def log_in_with_the_form(self, username: str = "admin", password: str = PASSWORD) -> Any:
        page = self.open("/dashboard/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/dashboard/chats")
        return page


@pytest.fixture(scope="session")
def browser_context(chromium: Any) -> Iterator[Any]:
    """One browser context for a worker's tests: making one cost chromium 0.36-0.48 s of CPU (issue 24).
    Each test still starts clean: its own server, so its own origin (storage, cache), a page of its own
    (sessionStorage), and the cookies, which are kept per host and not per port, cleared first."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def dash(browser_context: Any) -> Iterator[Dashboard]:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        sandbox = add_sandbox_channel(sim, reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
        add_admin(sim, "admin", PASSWORD)
        with served(sim) as url:
            browser_context.clear_cookies()
            try:
                yield Dashboard(sim, sandbox, url, browser_context.new_page())
            finally:
                for page in browser_context.pages:  # a test may open more than one
                    page.close()

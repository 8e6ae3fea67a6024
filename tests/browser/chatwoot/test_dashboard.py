"""The Chatwoot page in chromium: a refused connect says why, a good one lists the connection, pause and
remove it; no serious axe-core violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import WIDTHS, Dashboard
from tests.browser.dashboard.test_accessibility import serious
from wasession.sandbox.fake_chatwoot import ServedFakeChatwoot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def local_chatwoot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the browser fixture builds its Simulator: Chatwoot runs on 127.0.0.1 here."""
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")


@pytest.fixture
def cw() -> Iterator[ServedFakeChatwoot]:
    with ServedFakeChatwoot() as served:
        yield served


def test_connect_pause_and_remove_in_the_browser(dash: Dashboard, cw: ServedFakeChatwoot) -> None:
    dash.login()
    page = dash.open(f"/dashboard/channels/{dash.sandbox.id}/settings")
    page.get_by_role("link", name="Connect it to Chatwoot").click()
    page.wait_for_url("**/dashboard/chatwoot")
    assert "No channel is connected to Chatwoot." in page.locator("#no-chatwoot").inner_text()
    page.get_by_label("Chatwoot URL").fill(cw.url)
    page.get_by_label("Account id").fill("1")
    page.get_by_label("WhatsApp inbox id").fill("1")
    page.get_by_label("API access token").fill("not-the-token")
    page.get_by_role("button", name="Connect").click()
    assert "refused the API token" in page.locator("#chatwoot-error").inner_text()
    assert serious(page) == []  # axe-core: with the error shown
    page.get_by_label("API access token").fill(cw.fake.token)
    page.get_by_label("Webhook secret").fill("a-webhook-secret-1")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url("**/dashboard/chatwoot?done=connected")
    item = page.locator("#chatwoot-1")
    assert serious(page) == []
    assert cw.url in item.inner_text() and "webhooks signed" in item.inner_text()
    page.get_by_role("button", name="Pause Chatwoot connection 1").click()
    page.wait_for_url("**/dashboard/chatwoot?done=paused")
    assert page.locator("#chatwoot-1 .badge").inner_text() == "Paused"
    page.get_by_role("button", name="Remove Chatwoot connection 1").click()
    page.wait_for_url("**/dashboard/chatwoot?done=removed")
    assert page.locator("#no-chatwoot").is_visible()


def test_the_chatwoot_pages_with_a_connection_fit_without_side_scroll(dash: Dashboard, cw: ServedFakeChatwoot) -> None:
    """Issue 23: every dashboard page fits 1280 and 390 px (tests/browser/dashboard/test_page_widths.py)."""
    dash.login()
    page = dash.open("/dashboard/chatwoot")
    page.get_by_label("Chatwoot URL").fill(cw.url)
    page.get_by_label("Account id").fill("1")
    page.get_by_label("WhatsApp inbox id").fill("1")
    page.get_by_label("API access token").fill(cw.fake.token)
    page.get_by_label("Webhook secret").fill("a-webhook-secret-1")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url("**/dashboard/chatwoot?done=connected")
    for width in WIDTHS:  # each on a fresh load, in one browser context
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/dashboard/chatwoot", "/dashboard/chatwoot/1"):
            page = dash.open(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)

"""Times on the dashboard: in each channel's zone by default, or the zone the agent chose, always
named."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.support.web import Browser
from wasession.testing import Simulator
from wasession.web import zones

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_a_zone_is_named_by_its_abbreviation_or_else_by_its_name() -> None:
    winter = datetime(2026, 1, 5, 15, tzinfo=UTC)
    assert zones.label(winter, ZoneInfo("Europe/Lisbon")) == "WET"
    assert zones.label(winter, ZoneInfo("America/New_York")) == "EST"
    assert zones.label(winter, SAO_PAULO) == "America/Sao_Paulo"  # tzdata says only "-03"
    assert zones.label(winter, UTC) == "UTC"
    assert zones.chosen_zone("Nowhere/Special") is None and zones.chosen_zone("channel") is None
    assert zones.chosen_zone("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")


def test_the_list_uses_each_channel_s_zone_until_the_agent_picks_one(sim: Simulator, browser: Browser) -> None:
    shop = sim.add_channel(name="Shop", timezone="America/Sao_Paulo")
    sim.customer_message(shop, wa_id="5511900000001", name="Bia", text="oi")  # Mon 15:00 UTC = 12:00 -03
    page = browser.get("/dashboard/chats").text
    assert "Mon 05 Jan 12:00 America/Sao_Paulo" in page
    chosen = browser.post("/dashboard/timezone", {"zone": "Asia/Tokyo", "next": "/dashboard/chats?sort=closure"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/dashboard/chats?sort=closure"
    page = browser.get("/dashboard/chats").text
    assert "Tue 06 Jan 00:00 JST" in page and "America/Sao_Paulo" not in page
    assert '<option value="Asia/Tokyo" selected>' in page
    # an unknown zone, or a way out of the dashboard, changes nothing
    refused = browser.post("/dashboard/timezone", {"zone": "Mars/Olympus", "next": "https://evil.example/"})
    assert refused.headers["location"] == "/dashboard/chats"
    assert "Tue 06 Jan 00:00 JST" in browser.get("/dashboard/chats").text
    browser.post("/dashboard/timezone", {"zone": "channel", "next": "/dashboard/chats"})
    assert "Mon 05 Jan 12:00 America/Sao_Paulo" in browser.get("/dashboard/chats").text

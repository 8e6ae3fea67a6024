"""R23 through the API: a channel's usage per month, and a session's free window and referral."""

from __future__ import annotations

import httpx

from tests.support.api import World, error
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.testing.harness import served

ANA, BEN = "15550001111", "15550002222"


def test_usage_over_http_is_workspace_scoped_and_names_a_bad_month(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h", timezone="Asia/Tokyo")
    assert world.a.put(f"/channels/{ch.id}/policy", json={"automated_monthly_cap": 1}).status_code == 200
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3h")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    sim.advance("3h")
    body = world.a.get(f"/channels/{ch.id}/usage", params={"month": "2026-01"}).json()
    assert body["month"] == "2026-01" and body["timezone"] == "Asia/Tokyo"
    assert body["starts_at"] == "2025-12-31T15:00:00Z" and body["ends_at"] == "2026-01-31T15:00:00Z"
    assert (body["automated_sent"], body["human_sent"], body["automated_capped"]) == (1, 0, 1)
    assert (body["automated_monthly_cap"], body["automated_remaining"]) == (1, 0)
    assert body["priced"] == [
        {
            "category": "service",
            "type": "free_customer_service",
            "automated": 1,
            "human": 0,
            "total": 1,
            "estimated_cost": None,  # the workspace has no rate card
            "cost": None,
        }
    ]
    assert world.a.get(f"/channels/{ch.id}/usage").json()["month"] == "2026-01"
    for bad in ("2026-13", "2026/01", "x" * 20):
        error(world.a.get(f"/channels/{ch.id}/usage", params={"month": bad}), 422, field="month")
    error(world.b.get(f"/channels/{ch.id}/usage"), 404)
    bad_cap = world.a.put(f"/channels/{ch.id}/policy", json={"automated_monthly_cap": -3})
    error(bad_cap, 422, field="automated_monthly_cap")
    assert world.a.get(f"/channels/{ch.id}/policy").json()["policy"]["automated_monthly_cap"] == 1


def test_session_detail_shows_the_free_window_and_the_referral(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.entry_point(ch, ANA)
    body = text_message_body(
        phone_number_id=ch.phone_number_id, wa_id=ANA, name="Ana", text="hi", timestamp=sim.now, wamid=new_wamid()
    )
    body["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = {"source_type": "ad", "source_id": "AD9"}
    sim.post_webhook(body).raise_for_status()
    session_id = sim.session(ch, wa_id=ANA).id
    before = world.a.get(f"/sessions/{session_id}").json()
    assert before["free_window"] is None and before["referral"]["referral"] == {"source_type": "ad", "source_id": "AD9"}
    sim.advance("1h10s")
    detail = world.a.get(f"/sessions/{session_id}").json()
    window = detail["free_window"]
    assert window["origin_type"] == "referral_conversion" and window["pricing_type"] == "free_entry_point"
    assert window["expires_at"] == "2026-01-08T16:00:00Z" and window["open"] is True
    assert "free_window_opened" in [e["type"] for e in detail["timeline"]]
    error(world.b.get(f"/sessions/{session_id}"), 404)


def test_usage_and_the_free_window_over_a_real_port(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.entry_point(ch, ANA)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h10s")
    session_id = sim.session(ch, wa_id=ANA).id
    headers = {"Authorization": f"Bearer {world.a.key}"}
    with served(sim) as url:
        usage = httpx.get(f"{url}/api/v1/channels/{ch.id}/usage", params={"month": "2026-01"}, headers=headers)
        bad = httpx.get(f"{url}/api/v1/channels/{ch.id}/usage", params={"month": "01-2026"}, headers=headers)
        detail = httpx.get(f"{url}/api/v1/sessions/{session_id}", headers=headers)
        outsider = httpx.get(f"{url}/api/v1/channels/{ch.id}/usage", headers={"Authorization": f"Bearer {world.b.key}"})
    assert usage.status_code == 200
    assert usage.json()["priced"] == [
        {
            "category": "referral_conversion",
            "type": "free_entry_point",
            "automated": 1,
            "human": 0,
            "total": 1,
            "estimated_cost": None,
            "cost": None,
        }
    ]
    error(bad, 422, field="month")
    assert detail.json()["free_window"]["expires_at"] == "2026-01-08T16:00:00Z"
    error(outsider, 404)

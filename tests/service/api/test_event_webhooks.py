"""Outbound event webhooks (R16): signed bodies, retries with backoff on the manual clock, delivery log,
test send, and per-workspace isolation."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

from tests.support.api import World, error
from wasession.engine.event_dispatch import MAX_ATTEMPTS, retry_delay

SECRET = "whsec-0123456789abcdef"
ANA = "15550001111"


def add_hook(world: World, **changes: object) -> dict[str, object]:
    response = world.a.post(
        "/event-webhooks", json={"url": "http://crm.test/hook", "secret": SECRET, "description": "CRM", **changes}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def expected_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_events_are_posted_signed_in_order(world: World) -> None:
    hook = add_hook(world)
    assert "secret" not in hook
    sim = world.sim
    ch = sim.add_channel(session_timeout="1h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    got = world.receiver.received
    types = [json.loads(r.body)["type"] for r in got]
    assert types[:3] == ["channel_created", "session_opened", "customer_message"]
    assert "session_closed" in types
    for r in got:
        assert r.headers["x-wasession-signature"] == expected_signature(r.body)
        payload = json.loads(r.body)
        assert r.headers["x-wasession-event-id"] == str(payload["event_id"])
        assert payload["workspace_id"] == ch.workspace_id
    ids = [json.loads(r.body)["event_id"] for r in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # each event once
    log = world.a.get(f"/event-webhooks/{hook['id']}/deliveries").json()
    assert len(log["items"]) == len(got) and {d["status"] for d in log["items"]} == {"delivered"}


def test_failed_deliveries_retry_with_backoff_then_give_up(world: World) -> None:
    hook = add_hook(world)
    world.receiver.statuses = [500, 503]  # the first two attempts fail, the third succeeds
    sim = world.sim
    sim.add_channel()
    sim.run_due()
    start = sim.now
    assert len(world.receiver.received) == 1
    (d,) = world.a.get(f"/event-webhooks/{hook['id']}/deliveries").json()["items"]
    assert d["status"] == "pending" and d["attempts"] == 1 and d["last_status_code"] == 500
    assert d["next_attempt_at"] == (start + retry_delay(1)).isoformat().replace("+00:00", "Z")
    sim.advance(retry_delay(1) - timedelta(seconds=1))
    assert len(world.receiver.received) == 1  # not before its time
    sim.advance("1s")
    assert len(world.receiver.received) == 2
    sim.advance(retry_delay(2))
    assert len(world.receiver.received) == 3
    (d,) = world.a.get(f"/event-webhooks/{hook['id']}/deliveries").json()["items"]
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["last_status_code"] == 200
    assert world.receiver.received[0].body == world.receiver.received[2].body  # the same bytes each time

    world.receiver.statuses = [500] * (MAX_ATTEMPTS + 5)
    world.receiver.received.clear()
    sim.add_channel(name="Second")
    sim.advance("1d")
    assert len(world.receiver.received) == MAX_ATTEMPTS
    failed = world.a.get(f"/event-webhooks/{hook['id']}/deliveries", params={"status": "failed"}).json()
    assert [(x["attempts"], x["last_error"]) for x in failed["items"]] == [(MAX_ATTEMPTS, "http_500")]
    assert retry_delay(1) < retry_delay(2) < retry_delay(3)


def test_test_send_disable_and_delivery_log_pages(world: World) -> None:
    hook = add_hook(world)
    sent = world.a.post(f"/event-webhooks/{hook['id']}/test")
    assert sent.status_code == 200 and sent.json()["status"] == "delivered"
    (received,) = world.receiver.received
    assert json.loads(received.body)["type"] == "test"
    assert received.headers["x-wasession-signature"] == expected_signature(received.body)
    assert received.headers["x-wasession-event-id"] == f"test-{sent.json()['id']}"
    world.receiver.statuses = [502]
    failed = world.a.post(f"/event-webhooks/{hook['id']}/test").json()
    assert failed["status"] == "failed" and failed["last_status_code"] == 502
    rotated = world.a.patch(f"/event-webhooks/{hook['id']}", json={"secret": "another-secret-9876"})
    assert rotated.status_code == 200
    world.a.post(f"/event-webhooks/{hook['id']}/test")
    assert world.receiver.received[-1].headers["x-wasession-signature"] == expected_signature(
        world.receiver.received[-1].body, "another-secret-9876"
    )
    page = world.a.get(f"/event-webhooks/{hook['id']}/deliveries", params={"limit": 2}).json()
    rest = world.a.get(f"/event-webhooks/{hook['id']}/deliveries", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [d["id"] for d in page["items"] + rest.json()["items"]] == [3, 2, 1]
    assert world.a.patch(f"/event-webhooks/{hook['id']}", json={"enabled": False}).json()["enabled"] is False
    before = len(world.receiver.received)
    world.sim.add_channel()
    world.sim.advance("1m")
    assert len(world.receiver.received) == before


def test_webhook_crud_errors_and_other_workspaces(world: World) -> None:
    hook = add_hook(world)
    hid = hook["id"]
    assert world.a.get(f"/event-webhooks/{hid}").json() == hook
    assert [h["id"] for h in world.a.get("/event-webhooks").json()] == [hid]
    error(world.a.post("/event-webhooks", json={"url": "ftp://x", "secret": SECRET}), 422, field="url")
    error(world.a.post("/event-webhooks", json={"url": "http://crm.test/h", "secret": "short"}), 422, field="secret")
    error(world.a.patch(f"/event-webhooks/{hid}", json={"url": "nope"}), 422, field="url")
    error(world.a.get(f"/event-webhooks/{hid}/deliveries", params={"status": "lost"}), 422, field="status")
    b = world.b
    assert b.get("/event-webhooks").json() == []
    for response in (
        b.get(f"/event-webhooks/{hid}"),
        b.patch(f"/event-webhooks/{hid}", json={"url": "http://evil.test/"}),
        b.delete(f"/event-webhooks/{hid}"),
        b.get(f"/event-webhooks/{hid}/deliveries"),
        b.post(f"/event-webhooks/{hid}/test"),
    ):
        error(response, 404, "not_found")
    assert world.receiver.received == []
    # b's own webhook never receives a's events
    b_hook = b.post("/event-webhooks", json={"url": "http://crm.test/hook", "secret": SECRET}).json()
    world.sim.add_channel()
    world.sim.run_due()
    assert {json.loads(r.body)["workspace_id"] for r in world.receiver.received} == {1}
    assert b.get(f"/event-webhooks/{b_hook['id']}/deliveries").json()["items"] == []
    assert world.a.delete(f"/event-webhooks/{hid}").status_code == 204
    error(world.a.get(f"/event-webhooks/{hid}"), 404)


def test_policy_v2_events_reach_event_webhooks_with_the_ladder_step(world: World) -> None:
    add_hook(world)
    sim = world.sim
    ch = sim.add_channel(
        session_timeout="3h",
        reminder_enabled=True,
        reminder_steps=[{"after": "1h"}, {"after": "2h"}],
        closing_message="Bye {contact_firstname}",
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    sim.snooze(ch, wa_id=ANA, until="90m")  # step 2 (at 2 h) passes while snoozed
    sim.advance("6h")
    payloads = [json.loads(r.body) for r in world.receiver.received]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["reminder_queued"]["step"] == 1
    assert by_type["session_snoozed"]["until"] == "2026-01-05T17:30:00+00:00"
    assert by_type["session_woke"]["early"] is False
    assert by_type["reminder_skipped"] == {"reason": "snoozed", "step": 2}
    assert by_type["closing_message_queued"]["type"] == "text"

"""Credentials, webhook secrets and API keys never appear in a response or a log line."""

from __future__ import annotations

import logging

import pytest

from tests.support.api import World

SECRETS = {
    "access_token": "EAAG-access-token-s3cr3t",
    "app_secret": "app-secret-s3cr3t-value",
    "verify_token": "verify-token-s3cr3t",
}
HOOK_SECRET = "hook-secret-s3cr3t-value"


def test_no_secret_in_any_response_or_log_line(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    a = world.a
    created = a.post("/channels", json={"name": "S", "phone_number_id": "777000111", **SECRETS}).json()
    cid = created["id"]
    a.get(f"/channels/{cid}")
    a.get("/channels")
    a.patch(f"/channels/{cid}", json={"access_token": "EAAG-rotated-s3cr3t", "app_secret": "rotated-app-s3cr3t"})
    a.patch(f"/channels/{cid}", json={"access_token": ""})  # an error response must not echo secrets either
    a.post("/channels", json={"name": "S2", "phone_number_id": "777000111", **SECRETS})  # 409
    a.put(f"/channels/{cid}/policy", json={"reminder_after_hours": 5})
    hook = a.post("/event-webhooks", json={"url": "http://crm.test/hook", "secret": HOOK_SECRET}).json()
    a.post(f"/event-webhooks/{hook['id']}/test")
    a.patch(f"/event-webhooks/{hook['id']}", json={"secret": "hook-rotated-s3cr3t"})
    a.get(f"/event-webhooks/{hook['id']}/deliveries")
    key = a.post("/api-keys", json={"name": "shown-once"}).json()["key"]
    a.get("/api-keys")
    world.sim.advance("1m")
    assert world.receiver.received, "the test send should have reached the receiver"
    assert len(world.seen) >= 12
    forbidden = [
        *SECRETS.values(),
        "EAAG-rotated-s3cr3t",
        "rotated-app-s3cr3t",
        HOOK_SECRET,
        "hook-rotated-s3cr3t",
        world.a.key,
        world.b.key,
    ]
    responses = "\n".join(world.seen)
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "nothing was logged, so the check would prove nothing"
    for secret in forbidden:
        assert secret not in responses, f"{secret} in a response"
        assert secret not in logs, f"{secret} in a log line"
    assert responses.count(key) == 1  # a new key is shown exactly once, in its creation response
    assert key not in logs

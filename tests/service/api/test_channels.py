"""Channels CRUD with write-only credentials, and GET/PUT policy validated as `docs/rules.md` says."""

from __future__ import annotations

from typing import Any

from tests.support.api import World, error
from wasession.store import channels as channel_store

NEW = {
    "name": "Support",
    "phone_number_id": "555000111",
    "access_token": "EAAG-token-very-secret",
    "app_secret": "app-secret-very-secret",
    "verify_token": "verify-very-secret",
}


def create(world: World, **changes: Any) -> dict[str, Any]:
    response = world.a.post("/channels", json={**NEW, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_read_list_update_delete(world: World) -> None:
    ch = create(world, policy={"reminder_enabled": True, "reminder_after_hours": 20})
    assert ch["name"] == "Support" and ch["policy"]["reminder_after_hours"] == 20
    for secret in ("access_token", "app_secret", "verify_token"):
        assert secret not in ch
    assert world.a.get(f"/channels/{ch['id']}").json() == ch
    assert [c["id"] for c in world.a.get("/channels").json()] == [ch["id"]]
    assert world.b.get("/channels").json() == []
    patched = world.a.patch(f"/channels/{ch['id']}", json={"name": "Sales", "rate_limit_per_second": 20})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Sales" and patched.json()["rate_limit_per_second"] == 20
    assert world.a.delete(f"/channels/{ch['id']}").status_code == 204
    error(world.a.get(f"/channels/{ch['id']}"), 404, "not_found")


def test_credentials_are_encrypted_rotatable_and_rotation_lifts_a_pause(world: World) -> None:
    ch = create(world)
    box = world.sim.runtime.box
    with world.sim.runtime.db.write() as conn:
        channel_store.set_paused(conn, ch["id"], "token refused (190)")
        raw = conn.execute(channel_store.channels.select().where(channel_store.channels.c.id == ch["id"])).mappings()
        stored = dict(next(iter(raw)))
    assert NEW["access_token"] not in str(stored)
    assert box.decrypt(stored["access_token_enc"]) == NEW["access_token"]
    assert world.a.get(f"/channels/{ch['id']}").json()["sending_paused_reason"] == "token refused (190)"
    rotated = world.a.patch(f"/channels/{ch['id']}", json={"access_token": "EAAG-new-token-secret"})
    assert rotated.status_code == 200
    assert rotated.json()["sending_paused_reason"] is None
    assert "EAAG-new-token-secret" not in rotated.text
    with world.sim.runtime.db.read() as conn:
        assert channel_store.secrets_of(conn, box, ch["id"]).access_token == "EAAG-new-token-secret"


def test_channel_errors(world: World) -> None:
    ch = create(world)
    error(world.a.post("/channels", json={**NEW, "name": "Dup"}), 409, "duplicate", "phone_number_id")
    error(world.a.post("/channels", json={**NEW, "phone_number_id": "abc"}), 422, "invalid", "phone_number_id")
    error(world.a.post("/channels", json={**NEW, "phone_number_id": "9", "access_token": " "}), 422, "required")
    error(world.a.post("/channels", json={k: v for k, v in NEW.items() if k != "app_secret"}), 422, field="app_secret")
    error(world.a.patch(f"/channels/{ch['id']}", json={"rate_limit_per_second": 0}), 422, field="rate_limit_per_second")
    error(
        world.a.patch(f"/channels/{ch['id']}", json={"name": "Renamed", "access_token": ""}), 422, field="access_token"
    )
    assert world.a.get(f"/channels/{ch['id']}").json()["name"] == "Support"  # a refused PATCH changes nothing
    error(world.a.patch(f"/channels/{ch['id']}", json={"bogus": 1}), 422, field="bogus")
    error(world.a.post("/channels", json={**NEW, "phone_number_id": "9", "policy": {"reminder_after_hours": 24}}), 422)


def test_another_workspaces_channel_answers_404_everywhere(world: World) -> None:
    cid = create(world)["id"]
    b = world.b
    for response in (
        b.get(f"/channels/{cid}"),
        b.patch(f"/channels/{cid}", json={"name": "x"}),
        b.patch(f"/channels/{cid}", json={"access_token": "stolen-token"}),
        b.delete(f"/channels/{cid}"),
        b.get(f"/channels/{cid}/policy"),
        b.put(f"/channels/{cid}/policy", json={"reminder_after_hours": 5}),
    ):
        error(response, 404, "not_found")
    assert world.a.get(f"/channels/{cid}").json()["name"] == "Support"
    assert world.a.get(f"/channels/{cid}/policy").json()["policy"]["reminder_after_hours"] == 23


def test_policy_get_and_put_with_field_errors(world: World) -> None:
    cid = create(world)["id"]
    body = error(world.a.put(f"/channels/{cid}/policy", json={"reminder_after_hours": 24}), 422)
    assert body["error"]["field"] == "reminder_after_hours" and "24" in body["error"]["message"]
    error(world.a.put(f"/channels/{cid}/policy", json={"reminderz": 1}), 422, "unknown_field", "reminderz")
    error(world.a.put(f"/channels/{cid}/policy", json={"session_timeout": "0m"}), 422, field="session_timeout")
    assert world.a.get(f"/channels/{cid}/policy").json()["policy"]["reminder_after_hours"] == 23  # unchanged
    saved = world.a.put(f"/channels/{cid}/policy", json={"reminder_after_hours": 20, "session_timeout": "6h"})
    assert saved.status_code == 200
    assert saved.json()["message"] == "Settings saved successfully"
    got = world.a.get(f"/channels/{cid}/policy").json()["policy"]
    assert got["reminder_after_hours"] == 20 and got["session_timeout"] == "PT6H"
    error(world.a.get("/channels/424242/policy"), 404)


def test_policy_v2_settings_through_the_api(world: World) -> None:
    cid = create(world)["id"]
    ladder = [{"after": "1h", "template": "Hi {contact_firstname}"}, {"before_window_closes": "30m"}]
    saved = world.a.put(
        f"/channels/{cid}/policy",
        json={"reminder_enabled": True, "reminder_steps": ladder, "business_hours": {"mon-fri": ["09:00-18:00"]}},
    )
    assert saved.status_code == 200, saved.text
    policy = saved.json()["policy"]
    assert policy["reminder_steps"] == [
        {"after": "PT1H", "template": "Hi {contact_firstname}"},
        {"before_window_closes": "PT30M"},
    ]
    assert policy["reminder_after_hours"] == 1 and policy["business_hours"]["fri"] == ["09:00-18:00"]
    body = error(
        world.a.put(f"/channels/{cid}/policy", json={"reminder_steps": [{"after": "2h"}, {"after": "1h"}]}),
        422,
        field="reminder_steps",
    )
    assert "step 2" in body["error"]["message"]
    clash = error(world.a.put(f"/channels/{cid}/policy", json={"session_timeout": "1h"}), 422, "clash")
    assert "could never go out" in clash["error"]["message"]
    assert world.a.get(f"/channels/{cid}/policy").json()["policy"] == policy  # nothing changed

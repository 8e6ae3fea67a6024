"""API keys: shown once, stored hashed, named, revocable; every request scoped to the key's workspace."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from tests.support.api import World, error
from wasession.store.schema import api_keys


def test_missing_malformed_unknown_and_revoked_keys_answer_401(world: World) -> None:
    client = world.sim.client
    error(client.get("/api/v1/channels"), 401, "unauthorized")
    error(client.get("/api/v1/channels", headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    error(client.get("/api/v1/channels", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    error(client.get("/api/v1/channels", headers={"Authorization": "Bearer wsk_unknown"}), 401, "unauthorized")
    created = world.a.post("/api-keys", json={"name": "ci"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("wsk_") and created.json()["prefix"] == key[:12]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/channels", headers=headers).status_code == 200
    revoked = world.a.delete(f"/api-keys/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    error(client.get("/api/v1/channels", headers=headers), 401, "unauthorized")


def test_keys_are_stored_hashed_and_listed_without_the_key(world: World) -> None:
    created = world.a.post("/api-keys", json={"name": "reporting"}).json()
    with world.sim.runtime.db.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == created["id"])).mappings().one()
    assert row["key_hash"] == hashlib.sha256(created["key"].encode()).hexdigest()
    assert created["key"] not in str(dict(row))
    listed = world.a.get("/api-keys")
    assert listed.status_code == 200
    assert [k["name"] for k in listed.json()] == ["a", "reporting"]
    assert created["key"] not in listed.text and all("key" not in k for k in listed.json())
    assert world.a.get("/api-keys").json()[0]["last_used_at"] is not None


def test_key_errors_and_other_workspaces_keys(world: World) -> None:
    error(world.a.post("/api-keys", json={"name": "  "}), 422, "required", "name")
    error(world.a.post("/api-keys", json={}), 422, "invalid_request", "name")
    b_keys = world.b.get("/api-keys").json()
    assert [k["name"] for k in b_keys] == ["b"]
    error(world.a.delete(f"/api-keys/{b_keys[0]['id']}"), 404, "not_found")
    error(world.a.delete("/api-keys/999999"), 404, "not_found")
    assert world.b.get("/channels").status_code == 200  # b's key still works


def test_workspace_endpoint_names_the_keys_workspace(world: World) -> None:
    assert world.a.get("/workspace").json()["name"] == "default"
    assert world.b.get("/workspace").json()["name"] == "other"

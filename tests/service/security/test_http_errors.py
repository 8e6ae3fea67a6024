"""Out-of-range ids, deeply nested JSON, unknown routes and FastAPI's own errors answer the one error
shape, never a 500 or `{"detail": …}`."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.support.web import PASSWORD, Browser
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.testing import Simulator
from wasession.testing.harness import add_admin

HUGE = "99999999999999999999"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


@pytest.fixture
def key(sim: Simulator) -> dict[str, str]:
    ctx = sim.runtime.ctx
    secret = key_service.create_key(ctx, workspace_id=channel_service.default_workspace(ctx), name="t").secret
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(sim: Simulator) -> TestClient:
    return TestClient(sim.app, base_url="http://wasession.test", raise_server_exceptions=False)


def shaped(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field"} <= set(body["error"]) and body["error"]["message"]
    return body["error"]


def test_ids_beyond_int64_in_dashboard_paths_and_queries(sim: Simulator, client: TestClient) -> None:
    add_admin(sim, "admin", PASSWORD)
    browser = Browser(sim)
    browser.client = client
    assert browser.login().status_code == 303
    shaped(client.get(f"/dashboard/sessions/{HUGE}"), 404)
    shaped(client.get(f"/dashboard/channels/{HUGE}/settings"), 404)
    error = shaped(client.get("/dashboard/chats", params={"channel": HUGE}), 422)
    assert error["field"] == "channel"


def test_ids_beyond_int64_in_api_cursors(client: TestClient, key: dict[str, str]) -> None:
    raw = json.dumps({"t": "2026-01-05T15:00:00+00:00", "id": int(HUGE)}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    shaped(client.get("/api/v1/sessions", params={"cursor": cursor}, headers=key), 422)
    shaped(client.get("/api/v1/contacts", params={"cursor": HUGE}, headers=key), 422)
    shaped(client.get(f"/api/v1/sessions/{HUGE}", headers=key), 404)


def test_deeply_nested_json_answers_the_error_shape(client: TestClient, key: dict[str, str]) -> None:
    body = b"[" * 100_000
    headers = {**key, "Content-Type": "application/json"}
    error = shaped(client.post("/api/v1/channels", content=body, headers=headers), 400)
    assert error["code"] == "invalid_body"


def test_unknown_routes_and_methods_answer_the_error_shape(client: TestClient, key: dict[str, str]) -> None:
    assert shaped(client.get("/no/such/page"), 404)["code"] == "not_found"
    assert shaped(client.get("/api/v1/nothing-here", headers=key), 404)["code"] == "not_found"
    wrong = client.delete("/healthz")
    assert shaped(wrong, 405)["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]
    invalid = shaped(client.get("/api/v1/sessions", params={"limit": "many"}, headers=key), 422)
    assert invalid["field"] == "limit"

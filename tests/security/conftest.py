"""A Simulator whose event webhooks may reach 127.0.0.1 (the operator's allowlist, as a LAN CRM would need),
with an API key for its default workspace."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from wasession.services import apikeys, channels
from wasession.testing import Simulator

SECRET = "whsec-0123456789abcdef"


@dataclass
class Tenant:
    sim: Simulator
    workspace_id: int
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        response: httpx.Response = self.sim.client.request(method, "/api/v1" + path, headers=headers, **kwargs)
        return response

    def add_hook(self, url: str) -> dict[str, Any]:
        response = self.call("POST", "/event-webhooks", json={"url": url, "secret": SECRET})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def deliveries(self, hook_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", f"/event-webhooks/{hook_id}/deliveries").json()["items"]
        return items


def tenant_of(sim: Simulator) -> Tenant:
    ws = channels.default_workspace(sim.runtime.ctx)
    return Tenant(sim, ws, apikeys.create_key(sim.runtime.ctx, workspace_id=ws, name="t").secret)


@pytest.fixture
def local_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        yield tenant_of(sim)


@pytest.fixture
def default_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.delenv("WASESSION_OUTBOUND_ALLOW", raising=False)
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        yield tenant_of(sim)

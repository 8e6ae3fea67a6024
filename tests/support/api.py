"""An API client per workspace on the Simulator, a receiver for outbound event webhooks, and a record
of every response body so tests can check that no secret is ever answered."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import workspaces as workspace_service
from wasession.testing import Simulator


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """An in-process HTTP endpoint standing in for a CRM; `statuses` scripts its answers in order."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.received.append(Received(await request.body(), {k.lower(): v for k, v in request.headers.items()}))
            status = self.statuses.pop(0) if self.statuses else 200
            return JSONResponse({"ok": status < 300}, status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


class Api:
    """Calls /api/v1 with one workspace's key; every response body is kept in `seen`."""

    def __init__(self, client: TestClient, key: str, seen: list[str], sim: Simulator | None = None) -> None:
        self.sim = sim
        self.client = client
        self.key = key
        self.seen = seen

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        body = kwargs.get("json")
        if self.sim is not None and method == "POST" and path == "/channels" and isinstance(body, dict):
            # The tenant holds the number it adds: Meta (the fake) answers the API's check for its token.
            pnid, token = body.get("phone_number_id"), body.get("access_token")
            if isinstance(pnid, str) and pnid.isdigit() and isinstance(token, str) and token.strip():
                self.sim.meta_number(pnid, token)
        response: httpx.Response = self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)
        self.seen.append(response.text)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("DELETE", path, **kwargs)


@dataclass
class World:
    sim: Simulator
    a: Api  # the default workspace, where the Simulator's channels live
    b: Api  # another workspace: it must never see a's objects
    receiver: Receiver
    seen: list[str]


@pytest.fixture
def world() -> Iterator[World]:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ctx = sim.runtime.ctx
        seen: list[str] = []
        default = channel_service.default_workspace(ctx)
        other = workspace_service.create_workspace(ctx, "other")
        key_a = key_service.create_key(ctx, workspace_id=default, name="a").secret
        key_b = key_service.create_key(ctx, workspace_id=other.id, name="b").secret
        receiver = Receiver()
        sim.runtime.event_dispatch.http = TestClient(receiver.app(), base_url="http://crm.test")
        yield World(sim, Api(sim.client, key_a, seen, sim), Api(sim.client, key_b, seen, sim), receiver, seen)


def error(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """Assert the one error shape, and return its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "field"} <= set(body["error"])
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    return body

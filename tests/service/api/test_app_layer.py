"""What `create_app` adds per runtime over the shared routes app (issue 24): the lifespan and the
sandbox's graph; the middlewares in front of the routes still answer for the runtime's own settings."""

from __future__ import annotations

import warnings

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from wasession.server import SANDBOX_GRAPH_PATH, create_app
from wasession.testing import Simulator


def test_the_lifespan_starts_and_stops_the_runtime_once() -> None:
    calls: list[str] = []
    with Simulator() as sim:
        app = create_app(sim.runtime, on_start=lambda: calls.append("start"), on_stop=lambda: calls.append("stop"))
        with TestClient(app) as client:
            assert calls == ["start"]
            assert client.get("/healthz").status_code == 200
        assert calls == ["start", "stop"]


def test_a_start_that_fails_fails_the_lifespan_and_never_stops() -> None:
    calls: list[str] = []

    def start() -> None:
        raise RuntimeError("no database")

    with Simulator() as sim:
        app = create_app(sim.runtime, on_start=start, on_stop=lambda: calls.append("stop"))
        with pytest.raises(RuntimeError, match="no database"), TestClient(app):
            pass
    assert calls == []


def _graph() -> Starlette:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"graph saw {request.url.path} under {request.scope['root_path']}")

    return Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST"])])


def test_the_sandbox_graph_is_mounted_for_its_runtime_only() -> None:
    with Simulator() as with_graph, Simulator() as without:
        served = TestClient(create_app(with_graph.runtime, sandbox_graph=_graph()))

        answer = served.get(SANDBOX_GRAPH_PATH + "/v23.0/123/messages")

        assert answer.status_code == 200
        assert answer.text == f"graph saw {SANDBOX_GRAPH_PATH}/v23.0/123/messages under {SANDBOX_GRAPH_PATH}"
        assert answer.headers["x-frame-options"] == "DENY"  # behind the same wrappers as every route
        unknown = without.client.get(SANDBOX_GRAPH_PATH + "/v23.0/123/messages")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == f"no such route: GET {SANDBOX_GRAPH_PATH}/v23.0/123/messages"
        bare = without.client.get(SANDBOX_GRAPH_PATH, follow_redirects=False)
        assert bare.status_code == 404  # not a redirect to a mount that is not there

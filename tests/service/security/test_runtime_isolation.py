"""Two runtimes in one process share the routes' FastAPI app (issue 24) and nothing else: each request
sees its own runtime, and what routes keep between requests (login throttles, the live pages' hub,
body limits) is kept per runtime."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.support.web import PASSWORD, Browser
from wasession.api.limits import limits_of
from wasession.server import routes_app
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.testing import Simulator
from wasession.testing.harness import add_admin
from wasession.web import live
from wasession.web.auth import LoginLimits

WRONG = "not the password"


@pytest.fixture
def pair() -> Iterator[tuple[Simulator, Simulator]]:
    with Simulator(start="2026-01-05T15:00:00Z") as a, Simulator(start="2026-03-01T09:30:00Z") as b:
        yield a, b


def test_both_runtimes_are_served_by_the_one_routes_app(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair
    assert a.app.app is not b.app.app  # each runtime's own layer...
    assert a.app.app.app is b.app.app.app is routes_app()  # ...over the one FastAPI app


def test_each_request_sees_its_own_runtime_even_interleaved(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair

    def now(sim: Simulator) -> str:
        answer = sim.client.get("/healthz")
        assert answer.status_code == 200
        return str(answer.json()["now"])

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(now, [a, b] * 20))

    assert answers == ["2026-01-05T15:00:00+00:00", "2026-03-01T09:30:00+00:00"] * 20


def test_an_api_key_opens_only_its_own_runtimes_api(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair
    ws = channel_service.default_workspace(a.runtime.ctx)
    key = key_service.create_key(a.runtime.ctx, workspace_id=ws, name="a").secret
    headers = {"Authorization": f"Bearer {key}"}

    assert a.client.get("/api/v1/channels", headers=headers).status_code == 200
    refused = b.client.get("/api/v1/channels", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


def test_login_throttles_are_per_runtime(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair
    for sim in pair:
        add_admin(sim, "admin", PASSWORD)
    at_a, at_b = Browser(a), Browser(b)
    for _ in range(5):
        assert at_a.login(password=WRONG).status_code == 401

    assert at_a.login().status_code == 429  # a waits...
    assert at_b.login(password=WRONG).status_code == 401  # ...b, same name and address, counts afresh
    assert at_b.login().status_code == 303
    assert LoginLimits.of(a.runtime) is LoginLimits.of(a.runtime) is not LoginLimits.of(b.runtime)


def test_route_state_is_kept_per_runtime(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair
    assert live.hub_of(a.runtime) is live.hub_of(a.runtime) is not live.hub_of(b.runtime)
    assert limits_of(a.runtime) is limits_of(a.runtime) is not limits_of(b.runtime)


def test_body_limits_follow_the_runtime_serving_the_request(pair: tuple[Simulator, Simulator]) -> None:
    a, b = pair
    b.runtime.settings = b.runtime.settings.model_copy(update={"max_body_bytes": 1024})
    body = b"x" * 2048
    with TestClient(a.app) as at_a, TestClient(b.app) as at_b:
        assert at_a.post("/dashboard/login", content=body).status_code != 413
        assert at_b.post("/dashboard/login", content=body).status_code == 413

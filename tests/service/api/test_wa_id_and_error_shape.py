"""On a real port: contacts and sessions found by phone number (`wa_id`), and unknown routes, wrong
methods and missing or malformed bodies answered in the one documented error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import error
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.testing import Simulator
from wasession.testing.harness import served


@pytest.fixture
def api() -> Iterator[tuple[Simulator, httpx.Client]]:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        key = key_service.create_key(
            sim.runtime.ctx, workspace_id=channel_service.default_workspace(sim.runtime.ctx), name="t"
        )
        with (
            served(sim) as url,
            httpx.Client(
                base_url=url + "/api/v1", headers={"Authorization": f"Bearer {key.secret}"}, timeout=30
            ) as client,
        ):
            yield sim, client


def test_sessions_and_contacts_are_found_by_wa_id(api: tuple[Simulator, httpx.Client]) -> None:
    sim, client = api
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="hi")
    sim.customer_message(ch, wa_id="15550002222", name="Bo Chen", text="hello")
    for given in ("15550002222", "+1 555-000-2222"):
        page = client.get("/sessions", params={"wa_id": given}).json()
        sessions = page["items"]
        assert [s["contact_wa_id"] for s in sessions] == ["15550002222"], sessions
        assert page["total"] == 1  # counted with the same filter as the page
        contacts = client.get("/contacts", params={"wa_id": given}).json()["items"]
        assert [c["wa_id"] for c in contacts] == ["15550002222"]
    assert client.get("/sessions", params={"wa_id": "15559999999"}).json()["items"] == []
    assert len(client.get("/sessions").json()["items"]) == 2
    error(client.get("/sessions", params={"wa_id": "ana"}), 422, field="wa_id")
    error(client.get("/contacts", params={"wa_id": "12"}), 422, field="wa_id")


def test_an_unknown_route_answers_the_error_shape(api: tuple[Simulator, httpx.Client]) -> None:
    _, client = api
    body = error(client.get("/no-such-thing"), 404, "not_found")
    assert body["error"]["message"] == "no such route: GET /api/v1/no-such-thing"
    assert "detail" not in body


def test_a_wrong_method_names_the_allowed_ones(api: tuple[Simulator, httpx.Client]) -> None:
    _, client = api
    body = error(client.delete("/sessions"), 405, "method_not_allowed")
    assert body["error"]["message"] == "DELETE is not allowed on /api/v1/sessions; use GET"


@pytest.mark.parametrize(
    ("kwargs", "code", "field", "message"),
    [
        ({}, "invalid_body", "body", "the request body is required: a JSON object"),
        (
            {"content": b"{bad", "headers": {"content-type": "application/json"}},
            "invalid_body",
            "body",
            "the request body is not valid JSON",
        ),
        ({"json": [1, 2]}, "invalid_body", "body", "the request body must be a JSON object"),
        ({"json": {}}, "invalid_request", "name", "name is required"),
        ({"json": {"name": 5}}, "invalid_request", "name", None),
    ],
)
def test_missing_or_malformed_bodies_name_the_field(
    api: tuple[Simulator, httpx.Client], kwargs: dict[str, object], code: str, field: str, message: str | None
) -> None:
    _, client = api
    body = error(client.post("/api-keys", **kwargs), 422, code, field)  # type: ignore[arg-type]
    if message is not None:
        assert body["error"]["message"] == message
    assert len(client.get("/api-keys").json()) == 1, "a refused request created a key"

"""A channel added through the API is checked against Graph with its own token first: a tenant cannot claim
a number its token may not act for (a number another business holds, or a made-up one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import workspaces as workspace_service
from wasession.testing import Simulator
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.wire import WireTransport

VICTIM_PNID = "106540352242922"
VICTIM_TOKEN = "EAAG-victims-own-token"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        s.meta_number(VICTIM_PNID, VICTIM_TOKEN)  # at Meta, the number belongs to the victim's business
        yield s


def _post(sim: Simulator, **body: Any) -> Any:
    ws = workspace_service.create_workspace(
        sim.runtime.ctx, f"tenant-{len(channel_service.list_channels(sim.runtime.ctx))}"
    )
    key = key_service.create_key(sim.runtime.ctx, workspace_id=ws.id, name="k").secret
    fields = {"name": "Mine", "app_secret": "chosen-secret", "verify_token": "vt", **body}
    return sim.client.post("/api/v1/channels", headers={"Authorization": f"Bearer {key}"}, json=fields)


def test_a_token_meta_refuses_for_the_number_is_refused_and_nothing_is_stored(sim: Simulator) -> None:
    response = _post(sim, phone_number_id=VICTIM_PNID, access_token="EAAG-attackers-token")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "access_token" and "Meta refused" in error["message"]
    assert channel_service.list_channels(sim.runtime.ctx) == []


def test_a_number_meta_does_not_know_is_refused(sim: Simulator) -> None:
    response = _post(sim, phone_number_id="999000111222", access_token="EAAG-some-token")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "phone_number_id"
    assert channel_service.list_channels(sim.runtime.ctx) == []


def test_the_owner_adds_its_number_and_meta_fills_the_display_number(sim: Simulator) -> None:
    response = _post(sim, phone_number_id=VICTIM_PNID, access_token=VICTIM_TOKEN)
    assert response.status_code == 201, response.text
    assert response.json()["display_phone_number"] == "15550000000"  # what Graph answered


def test_graph_unreachable_answers_502_and_stores_nothing(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real connection refused on loopback: nothing listens on port 1.
    dead = CloudClient(WireTransport(timeout=2.0, connect_timeout=1.0), base_url="http://127.0.0.1:1")
    monkeypatch.setattr(sim.runtime.workers, "client_for", lambda _channel: dead)
    response = _post(sim, phone_number_id=VICTIM_PNID, access_token=VICTIM_TOKEN)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "graph_unavailable"
    assert channel_service.list_channels(sim.runtime.ctx) == []

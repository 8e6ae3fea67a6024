"""A Simulator served on a real port, connected to a fake Chatwoot on another real port: the webhooks go
both ways over real HTTP, Meta's webhooks reach Chatwoot through a relay forward target, and the
Simulator's manual clock is the fake's clock too (so signed timestamps are fresh on both sides)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.processes import HTTP
from wasession.domain.chatwoot import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from wasession.sandbox.fake_chatwoot import FakeChatwoot, FakeConversation, ServedFakeChatwoot
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import served

SECRET = "chatwoot-webhook-secret-1"
WA_ID = "4915112345678"


@dataclass
class World:
    sim: Simulator
    base: str  # wasession's served URL
    api: httpx.Client  # wasession's API with a key of the default workspace
    cw: ServedFakeChatwoot
    channel: Channel
    connection: dict[str, Any]

    @property
    def fake(self) -> FakeChatwoot:
        return self.cw.fake

    @property
    def hook_url(self) -> str:
        return f"{self.base}/chatwoot/{self.connection['id']}/webhook"

    def customer(self, text: str, wa_id: str = WA_ID) -> FakeConversation:
        """The customer writes: wasession ingests it, the relay passes it on to Chatwoot's inbox route."""
        self.sim.customer_message(self.channel, wa_id=wa_id, name="Ada Lovelace", text=text)
        self.sim.run_due()
        self.fake.flush()
        conv = self.fake.conversation_of(wa_id)
        assert conv is not None, "the relay did not reach Chatwoot"
        return conv

    def settle(self) -> None:
        """Let webhooks and the engine answer one another until both are quiet."""
        for _ in range(5):
            self.fake.flush()
            self.sim.run_due()
        self.fake.flush()

    def post_raw(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return HTTP.post(self.hook_url, content=body, headers={"Content-Type": "application/json", **headers})

    def signed_headers(self, body: bytes, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
        stamp = str(at if at is not None else int(self.sim.now.timestamp()))
        return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body), DELIVERY_HEADER: uuid4().hex}

    def outgoing(self, conv: FakeConversation) -> list[str]:
        return [m.content for m in conv.messages if m.message_type == "outgoing" and not m.private]


def api_client(sim: Simulator, base: str, workspace_id: int | None = None) -> httpx.Client:
    ws = workspace_id or channel_service.default_workspace(sim.runtime.ctx)
    key = key_service.create_key(sim.runtime.ctx, workspace_id=ws, name=f"chatwoot-{ws}").secret
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def connect_body(w_channel: Channel, cw: ServedFakeChatwoot, **overrides: Any) -> dict[str, Any]:
    return {
        "channel_id": w_channel.id,
        "url": cw.url,
        "account_id": 1,
        "inbox_id": 1,
        "api_token": cw.fake.token,
        "webhook_secret": SECRET,
        **overrides,
    }


@pytest.fixture
def world_factory(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    with Simulator(database_url=migrated_database_url) as sim, served(sim) as base:
        fake = FakeChatwoot(now=lambda: sim.now.timestamp())
        fake.app_secret = sim.app_secret  # Chatwoot checks Meta's signature since PR #14280
        with ServedFakeChatwoot(fake) as cw:

            def make(send_via: str = "chatwoot", **policy: object) -> World:
                channel = sim.add_channel(**policy)
                api = api_client(sim, base)
                made = api.post("/api/v1/chatwoot", json=connect_body(channel, cw, send_via=send_via))
                assert made.status_code == 201, made.text
                connection = made.json()
                fake.add_webhook(f"{base}{connection['webhook_path']}", SECRET)
                relay = api.post(f"/api/v1/channels/{channel.id}/forwards", json={"url": connection["relay_target"]})
                assert relay.status_code == 201, relay.text
                return World(sim, base, api, cw, channel, connection)

            yield make


def event_types(sim: Simulator, session_id: int) -> list[str]:
    return [e.type for e in sim.timeline(session_id)]


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()

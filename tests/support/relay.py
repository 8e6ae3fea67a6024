"""Relay tests: a Simulator (SQLite and PostgreSQL) allowed to call receivers on 127.0.0.1, and real
HTTP receivers whose answers are scripted (tests/support/servers.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.servers import Receiver, serve
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.whatsapp.signature import sign


@pytest.fixture
def relay_sim(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    with Simulator(start="2026-01-05T15:00:00Z", database_url=migrated_database_url) as sim:
        yield sim


class Scripted:
    """Answers each request with the next of `statuses` (200 once they run out) and keeps, in order,
    what it answered 2xx to: what the target actually took."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.left = list(statuses or [])
        self.taken: list[tuple[bytes, str | None]] = []

    def __call__(self, sock: socket.socket, receiver: Receiver) -> None:
        status = self.left.pop(0) if self.left else 200
        request = receiver.requests[-1]
        if 200 <= status < 300:
            self.taken.append((request.body, request.head.get("x-hub-signature-256")))
        sock.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())


@dataclass
class Sent:
    raw: bytes
    signature: str


def customer_body(sim: Simulator, channel: Channel, text: str) -> Sent:
    body = text_message_body(
        phone_number_id=channel.phone_number_id,
        wa_id="4915100000001",
        name="Ana",
        text=text,
        timestamp=sim.now,
        wamid=new_wamid(),
    )
    # Meta's own spelling: no spaces, non-ASCII escaped; the relay must pass these bytes on unchanged.
    raw = json.dumps(body, separators=(",", ":")).encode()
    return Sent(raw, sign(sim.app_secret, raw))


def post(sim: Simulator, sent: Sent) -> int:
    response = sim.post_webhook(sent.raw, sign=False, headers={"X-Hub-Signature-256": sent.signature})
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


@dataclass
class Api:
    sim: Simulator
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        return self.sim.client.request(method, "/api/v1" + path, headers=headers, **kwargs)


def api_of(sim: Simulator) -> Api:
    ws = channel_service.default_workspace(sim.runtime.ctx)
    return Api(sim, key_service.create_key(sim.runtime.ctx, workspace_id=ws, name="relay").secret)


@dataclass
class OneTarget:
    """A channel with one forward target added through the API, served by a real receiver."""

    sim: Simulator
    channel: Channel
    api: Api
    crm: Scripted
    receiver: Receiver
    created: Any  # the API's answer to the POST

    @property
    def path(self) -> str:
        return f"/channels/{self.channel.id}/forwards/{self.created.json()['id']}"

    def post(self, text: str) -> tuple[Sent, int]:
        sent = customer_body(self.sim, self.channel, text)
        return sent, post(self.sim, sent)


@contextmanager
def one_target(sim: Simulator, statuses: list[int] | None = None, **target: Any) -> Iterator[OneTarget]:
    channel = sim.add_channel()
    api = api_of(sim)
    crm = Scripted(statuses)
    with serve(crm) as receiver:
        created = api.call("POST", f"/channels/{channel.id}/forwards", json={"url": receiver.url, **target})
        assert created.status_code == 201, created.text
        yield OneTarget(sim, channel, api, crm, receiver, created)

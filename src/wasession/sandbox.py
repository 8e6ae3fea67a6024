"""The sandbox: with no channel configured, `serve` creates one whose sends go to the built-in fake
Cloud API (mounted at /sandbox/graph), whose status webhooks come back signed to /webhooks/whatsapp,
so a newcomer sees the whole loop work without a Meta account."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from wasession.services import channels as channel_service
from wasession.services.channels import NewChannel, random_token
from wasession.store import channels as channel_store
from wasession.store.channels import Channel, ChannelSecrets
from wasession.testing.fake_cloud import FakeCloudApi, FakeNumber
from wasession.testing.webhook_bodies import new_wamid, text_message_body
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

if TYPE_CHECKING:
    from wasession.runtime import Runtime

log = logging.getLogger(__name__)

SANDBOX_PHONE_NUMBER_ID = "100000000000000"


def ensure_sandbox_channel(runtime: Runtime) -> Channel | None:
    """Create the sandbox channel when no channel exists at all; returns it, or None."""
    with runtime.db.read() as conn:
        existing = channel_store.list_all(conn)
    if existing:
        return next((c for c in existing if c.sandbox), None)
    channel = channel_service.create_channel(
        runtime.ctx,
        NewChannel(
            name="Sandbox",
            phone_number_id=SANDBOX_PHONE_NUMBER_ID,
            access_token=random_token(),
            app_secret=random_token(),
            verify_token=random_token(),
            display_phone_number="15550000000",
            sandbox=True,
        ),
        {"reminder_enabled": True, "reminder_after_hours": 1, "session_timeout": "2h"},
    )
    log.info("created the sandbox channel %s (phone_number_id %s)", channel.id, channel.phone_number_id)
    return channel


def register_sandbox(runtime: Runtime, fake: FakeCloudApi, webhook_url: str) -> list[Channel]:
    with runtime.db.read() as conn:
        sandboxes = [c for c in channel_store.list_all(conn) if c.sandbox]
        secrets = {c.id: channel_store.secrets_of(conn, runtime.box, c.id) for c in sandboxes}
    for c in sandboxes:
        fake.register(
            FakeNumber(
                phone_number_id=c.phone_number_id,
                access_token=secrets[c.id].access_token,
                app_secret=secrets[c.id].app_secret,
                webhook_url=webhook_url,
            )
        )
    return sandboxes


def customer_webhook(
    channel: Channel, secrets: ChannelSecrets, *, wa_id: str, name: str, text: str, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A signed webhook body of a customer's text message, as Meta would send it."""
    body = text_message_body(
        phone_number_id=channel.phone_number_id,
        wa_id=wa_id,
        name=name,
        text=text,
        timestamp=at,
        wamid=new_wamid(),
    )
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secrets.app_secret, raw)}


class WebhookPump:
    """Delivers the fake's due status webhooks to our own endpoint over real HTTP."""

    def __init__(self, fake: FakeCloudApi, runtime: Runtime, url: str) -> None:
        self.fake = fake
        self.runtime = runtime
        self.url = url
        self.http = httpx.Client(timeout=10.0)

    def step(self) -> int:
        hooks = self.fake.due_webhooks(self.runtime.clock.now())
        for hook in hooks:
            raw, headers = self.fake.signed(hook)
            try:
                self.http.post(self.url, content=raw, headers=headers)
            except httpx.HTTPError:
                log.warning("sandbox: could not deliver a status webhook to %s", self.url)
        return len(hooks)

"""The sandbox channel: with no channel configured, `serve` creates one whose sends go to the built-in
fake Cloud API (mounted at /sandbox/graph), whose status webhooks come back signed to /webhooks/whatsapp,
so a newcomer sees the whole loop work without a Meta account."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from wasession.lifecycle.context import ServiceContext
from wasession.sandbox.bodies import customer_webhook
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.services import channels as channel_service
from wasession.services.channels import NewChannel, random_token
from wasession.store import channels as channel_store
from wasession.store.channels import Channel

log = logging.getLogger(__name__)

SANDBOX_PHONE_NUMBER_ID = "100000000000000"


# A newcomer sees the whole loop within two hours.
SANDBOX_POLICY: dict[str, object] = {"reminder_enabled": True, "reminder_after_hours": 1, "session_timeout": "2h"}


def create_sandbox_channel(
    ctx: ServiceContext,
    *,
    name: str = "Sandbox",
    policy: Mapping[str, object] | None = None,
    app_secret: str | None = None,
    graph_base_url: str | None = None,
) -> Channel:
    """A channel flagged `sandbox`, whose sends go to the built-in fake Cloud API: the one way to make
    one, for `serve`, the dashboard harness and the Simulator."""
    channel = channel_service.create_channel(
        ctx,
        NewChannel(
            name=name,
            phone_number_id=SANDBOX_PHONE_NUMBER_ID,
            access_token=random_token(),
            app_secret=app_secret or random_token(),
            verify_token=random_token(),
            display_phone_number="15550000000",
            sandbox=True,
            graph_base_url=graph_base_url,
        ),
        SANDBOX_POLICY if policy is None else policy,
    )
    log.info("created the sandbox channel %s (phone_number_id %s)", channel.id, channel.phone_number_id)
    return channel


def sandbox_channel(ctx: ServiceContext) -> Channel | None:
    """The first sandbox channel, or None."""
    return next((c for c in channel_service.list_channels(ctx) if c.sandbox), None)


def ensure_sandbox_channel(ctx: ServiceContext) -> Channel | None:
    """Create the sandbox channel when no channel exists at all; returns it, or None."""
    with ctx.db.read() as conn:
        existing = channel_store.list_all(conn)
    if existing:
        return next((c for c in existing if c.sandbox), None)
    return create_sandbox_channel(ctx)


def register_sandbox(ctx: ServiceContext, fake: FakeCloudApi, webhook_url: str | None) -> list[Channel]:
    """Tell `fake` every sandbox channel's credentials (and where to post its status webhooks)."""
    with ctx.db.read() as conn:
        sandboxes = [c for c in channel_store.list_all(conn) if c.sandbox]
        secrets = {c.id: channel_store.secrets_of(conn, ctx.box, c.id) for c in sandboxes}
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


def customer_message_webhook(
    ctx: ServiceContext, channel: Channel, *, wa_id: str, name: str, text: str, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """ "A customer writes on a sandbox channel": the signed webhook body Meta would deliver, for the CLI
    (over HTTP) and the dashboard (over ASGI) alike. Ingest tells the fake once it is applied."""
    with ctx.db.read() as conn:
        app_secret = channel_store.secrets_of(conn, ctx.box, channel.id).app_secret
    return customer_webhook(channel.phone_number_id, app_secret, wa_id=wa_id, name=name, text=text, at=at)

"""Read-only look-ups the faces (CLI, Simulator) need and no service offers: the SQL stays in
`store`, the faces get plain values."""

from __future__ import annotations

from wasession.lifecycle.context import ServiceContext
from wasession.store import channels as channel_store
from wasession.store import probe
from wasession.store.channels import Channel


def all_channels(ctx: ServiceContext) -> list[Channel]:
    with ctx.db.read() as conn:
        return channel_store.list_all(conn)


def sandbox_app_secret(ctx: ServiceContext) -> tuple[Channel, str] | None:
    """The first sandbox channel and its app secret (what signs its webhooks), or None."""
    with ctx.db.read() as conn:
        channel = next((c for c in channel_store.list_all(conn) if c.sandbox), None)
        if channel is None:
            return None
        return channel, channel_store.secrets_of(conn, ctx.box, channel.id).app_secret


def describe_database(ctx: ServiceContext) -> str:
    """'sqlite database: sqlite:///…' with any password hidden, for start-up banners."""
    url = ctx.db.url
    return f"{url.split('://')[0]} database: {probe.safe_url(url)}"

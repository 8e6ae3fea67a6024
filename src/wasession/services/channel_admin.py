"""Channel edits the REST API offers beyond create/policy/credentials: rename, limits, delete."""

from __future__ import annotations

from wasession.domain.events import EventType
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.services.channels import get_channel
from wasession.services.errors import ValidationError
from wasession.store import channels as channel_store
from wasession.store import events as event_store
from wasession.store.channels import Channel, ChannelEdit, edit_channel
from wasession.store.channels import delete_channel as delete_channel_row


def update_channel(
    ctx: ServiceContext,
    channel_id: int,
    *,
    workspace_id: int,
    name: str | None = None,
    display_phone_number: str | None = None,
    rate_limit_per_second: int | None = None,
) -> Channel:
    values: ChannelEdit = {}
    if name is not None:
        if not name.strip() or len(name.strip()) > 200:
            raise ValidationError("name", "name must be 1 to 200 characters", code="required")
        values["name"] = name.strip()
    if display_phone_number is not None:
        if len(display_phone_number) > 32:
            raise ValidationError("display_phone_number", "display_phone_number must be at most 32 characters")
        values["display_phone_number"] = display_phone_number
    if rate_limit_per_second is not None:
        if not 1 <= rate_limit_per_second <= 1000:
            raise ValidationError(
                "rate_limit_per_second",
                f"rate_limit_per_second must be from 1 to 1000; got {rate_limit_per_second}",
                code="out_of_range",
            )
        values["rate_limit_per_second"] = rate_limit_per_second
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    if not values:
        return channel
    with ctx.db.write() as conn:
        edit_channel(conn, channel_id, **values)
        session_writes.record(conn, channel, None, EventType.CHANNEL_UPDATED, ctx.clock.now(), changed=sorted(values))
        updated = channel_store.get(conn, channel_id)
    assert updated is not None
    return updated


def delete_channel(ctx: ServiceContext, channel_id: int, *, workspace_id: int) -> None:
    """Delete a channel with its sessions, transcripts and events (foreign keys cascade)."""
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        delete_channel_row(conn, channel_id)
        # Recorded on the workspace, not the channel, so the fact outlives the channel's own timeline.
        event_store.add(
            conn,
            workspace_id=workspace_id,
            type="channel_deleted",
            at=ctx.clock.now(),
            data={"channel_id": channel.id, "name": channel.name, "phone_number_id": channel.phone_number_id},
        )

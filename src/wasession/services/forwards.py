"""Relay forward targets of a channel (issue 16): where every accepted webhook is passed on, as received.

A target follows the raw webhook log from the moment it is added; `replay` moves it back. Secrets are
write-only: without one, Meta's own X-Hub-Signature-256 is passed on (valid for a receiver that knows the
app secret); with one, the raw bytes are signed again with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from wasession.domain.relay import FIELDS
from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy
from wasession.services import channels as channel_service
from wasession.services.errors import ConflictError, NotFoundError, ValidationError
from wasession.services.event_webhooks import clean_description, clean_secret, clean_url
from wasession.store import forwards as forward_store
from wasession.store.forwards import Attempt as Attempt  # re-exported for the faces
from wasession.store.forwards import Target as Target

MASK = "********"
# Each target costs a lease, a cursor walk and a pool slot per body: a tenant cannot add thousands.
MAX_PER_CHANNEL = 20
DEFAULT_MAX_PER_WORKSPACE = 50  # Settings.max_forwards_per_workspace


def clean_fields(fields: Iterable[str] | None) -> list[str]:
    """The kinds asked for, in the canonical order; None: all of them."""
    if fields is None:
        return list(FIELDS)
    chosen = [f.strip() for f in fields]
    unknown = [f for f in chosen if f not in FIELDS]
    if unknown or not chosen:
        got = ", ".join(repr(f) for f in unknown) if unknown else "nothing"
        raise ValidationError("fields", f"fields must be one or more of {', '.join(FIELDS)}; got {got}", "invalid")
    return [f for f in FIELDS if f in chosen]


def _own_secret(secret: str | None) -> str | None:
    return clean_secret(secret) if secret else None


def create_forward(
    ctx: ServiceContext,
    channel_id: int,
    *,
    workspace_id: int,
    url: str,
    secret: str | None = None,
    fields: Iterable[str] | None = None,
    description: str = "",
    policy: AddressPolicy | None = None,
    max_per_workspace: int = DEFAULT_MAX_PER_WORKSPACE,
) -> Target:
    """A new target; it is given the bodies accepted after this commits (replay reaches back)."""
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=workspace_id)
    values = (clean_url(url, policy or AddressPolicy()), _own_secret(secret), clean_fields(fields))
    with ctx.db.read() as conn:  # given what arrives from now on
        newest = forward_store.newest_log_id(conn)
    with ctx.db.write() as conn:
        if len(forward_store.targets_of_channel(conn, channel.id)) >= MAX_PER_CHANNEL:
            raise ConflictError(
                f"channel {channel.id} has {MAX_PER_CHANNEL} forward targets, the most it may have; remove one first",
                "quota_exceeded",
            )
        if forward_store.count_in_workspace(conn, workspace_id) >= max_per_workspace:
            raise ConflictError(
                f"this workspace has {max_per_workspace} forward targets, the most it may have "
                "(WASESSION_MAX_FORWARDS_PER_WORKSPACE); remove one first",
                "quota_exceeded",
            )
        target_id = forward_store.insert_target(
            conn,
            ctx.box,
            workspace_id=workspace_id,
            channel_id=channel.id,
            url=values[0],
            secret=values[1],
            fields=values[2],
            description=clean_description(description),
            cursor=newest,
            now=ctx.clock.now(),
        )
        created = forward_store.get_target(conn, target_id)
    ctx.wake()  # this process's relay looks at once (the engine wakes it after webhooks only while a target exists)
    assert created is not None
    return created


def list_forwards(ctx: ServiceContext, channel_id: int, *, workspace_id: int) -> list[Target]:
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        return forward_store.targets_of_channel(conn, channel.id)


def get_forward(ctx: ServiceContext, channel_id: int, target_id: int, *, workspace_id: int) -> Target:
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        found = forward_store.get_target(conn, target_id)
    if found is None or found.channel_id != channel.id:
        raise NotFoundError("forward target", target_id)
    return found


def update_forward(
    ctx: ServiceContext,
    channel_id: int,
    target_id: int,
    *,
    workspace_id: int,
    url: str | None = None,
    secret: str | None = None,
    fields: Iterable[str] | None = None,
    description: str | None = None,
    paused: bool | None = None,
    policy: AddressPolicy | None = None,
) -> Target:
    """`secret=""` removes the target's own secret: Meta's signature is passed on again."""
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = clean_url(url, policy or AddressPolicy())
    if fields is not None:
        values["fields"] = clean_fields(fields)
    if description is not None:
        values["description"] = clean_description(description)
    if paused is not None:
        values["paused"] = paused
    new_secret = None if secret is None else (_own_secret(secret) or "")
    get_forward(ctx, channel_id, target_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        forward_store.update_target(conn, ctx.box, target_id, secret=new_secret, **values)
        updated = forward_store.get_target(conn, target_id)
    if paused is False:
        ctx.wake()  # resumed: delivered from its cursor at once
    assert updated is not None
    return updated


def set_paused(ctx: ServiceContext, channel_id: int, target_id: int, *, workspace_id: int, paused: bool) -> Target:
    """Paused, a target is given nothing; its cursor stays, so resuming delivers what arrived meanwhile
    (bodies older than the 7-day limit are given up then)."""
    return update_forward(ctx, channel_id, target_id, workspace_id=workspace_id, paused=paused)


def delete_forward(ctx: ServiceContext, channel_id: int, target_id: int, *, workspace_id: int) -> None:
    get_forward(ctx, channel_id, target_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        forward_store.delete_target(conn, target_id)


def replay(
    ctx: ServiceContext,
    channel_id: int,
    target_id: int,
    *,
    workspace_id: int,
    from_log_id: int | None = None,
    since: datetime | None = None,
) -> Target:
    """Deliver again, in order, every stored body from webhook log id `from_log_id` (inclusive) or
    received at or after `since`: exactly one of the two."""
    if (from_log_id is None) == (since is None):
        raise ValidationError("from_log_id", "give exactly one of from_log_id (a webhook log id) and since (a time)")
    if from_log_id is not None and from_log_id < 1:
        raise ValidationError("from_log_id", f"from_log_id must be a webhook log id (1 or more); got {from_log_id}")
    get_forward(ctx, channel_id, target_id, workspace_id=workspace_id)
    if from_log_id is not None:
        cursor = from_log_id - 1
    else:
        with ctx.db.read() as conn:  # the log: on SQLite a file the main database's writer does not see
            cursor = forward_store.last_id_before(conn, since or ctx.clock.now())
    with ctx.db.write() as conn:
        forward_store.move_cursor(conn, target_id, cursor)
        moved = forward_store.get_target(conn, target_id)
    ctx.wake()
    assert moved is not None
    return moved


def deliveries(
    ctx: ServiceContext,
    channel_id: int,
    target_id: int,
    *,
    workspace_id: int,
    limit: int = 50,
    before_id: int | None = None,
) -> tuple[list[Attempt], int | None]:
    """The target's delivery attempts, newest first, and the id to continue before (None: last page)."""
    get_forward(ctx, channel_id, target_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        rows = forward_store.attempts_of(conn, target_id, before_id=before_id, limit=limit + 1)
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)

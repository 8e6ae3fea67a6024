"""Outbound event webhooks per workspace (R16): URLs, write-only signing secrets, delivery log, test send."""

from __future__ import annotations

from typing import Any, Protocol

from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy, RefusedURL, check_url
from wasession.services.errors import ConflictError, NotFoundError, ValidationError
from wasession.store import event_webhooks as hook_store
from wasession.store.event_webhooks import Delivery as Delivery  # re-exported for the faces
from wasession.store.event_webhooks import EventWebhook as EventWebhook

MIN_SECRET = 16
MAX_SECRET = 256
MAX_DESCRIPTION = 500
DELIVERY_STATUSES = ("pending", "delivering", "delivered", "failed")


class DeliversNow(Protocol):
    """What a test send needs of the engine's event dispatcher (services do not import the engine)."""

    def deliver_now(self, delivery_id: int, *, final: bool = False) -> Delivery: ...


def clean_url(url: str, policy: AddressPolicy) -> str:
    """The URL as stored, or a ValidationError on `url` saying why this server will not call it (SSRF).

    Address literals are checked here in every spelling; a hostname is checked each time it is called,
    against what it resolves to then (outbound/http.py).
    """
    url = url.strip()
    try:
        check_url(url, policy)
    except RefusedURL as exc:
        raise ValidationError("url", str(exc), "refused_url") from exc
    return url


def clean_secret(secret: str) -> str:
    if not MIN_SECRET <= len(secret) <= MAX_SECRET or secret != secret.strip():
        raise ValidationError(
            "secret", f"secret must be {MIN_SECRET} to {MAX_SECRET} characters without surrounding spaces", "invalid"
        )
    return secret


def clean_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError("description", f"description must be at most {MAX_DESCRIPTION} characters", "too_long")
    return description.strip()


DEFAULT_MAX_PER_WORKSPACE = 20  # Settings.max_event_webhooks_per_workspace


def create_webhook(
    ctx: ServiceContext,
    *,
    workspace_id: int,
    url: str,
    secret: str,
    description: str = "",
    enabled: bool = True,
    policy: AddressPolicy | None = None,
    max_per_workspace: int = DEFAULT_MAX_PER_WORKSPACE,
) -> EventWebhook:
    """A new webhook; it is given the events added after this commits, never earlier ones."""
    values = (clean_url(url, policy or AddressPolicy()), clean_secret(secret), clean_description(description))
    with ctx.db.write() as conn:
        if len(hook_store.webhooks_of(conn, workspace_id)) >= max_per_workspace:
            raise ConflictError(
                f"this workspace has {max_per_workspace} event webhooks, the most it may have "
                "(WASESSION_MAX_EVENT_WEBHOOKS_PER_WORKSPACE); remove one first",
                "quota_exceeded",
            )
        webhook_id = hook_store.insert_webhook(
            conn,
            ctx.box,
            workspace_id=workspace_id,
            url=values[0],
            secret=values[1],
            description=values[2],
            enabled=enabled,
            now=ctx.clock.now(),
        )
        created = hook_store.get_webhook(conn, webhook_id)
    ctx.wake()  # the engine wakes the event loop after webhooks only while a webhook is enabled
    assert created is not None
    return created


def list_webhooks(ctx: ServiceContext, *, workspace_id: int) -> list[EventWebhook]:
    with ctx.db.read() as conn:
        return hook_store.webhooks_of(conn, workspace_id)


def get_webhook(ctx: ServiceContext, webhook_id: int, *, workspace_id: int) -> EventWebhook:
    with ctx.db.read() as conn:
        found = hook_store.get_webhook(conn, webhook_id)
    if found is None or found.workspace_id != workspace_id:
        raise NotFoundError("event webhook", webhook_id)
    return found


def update_webhook(
    ctx: ServiceContext,
    webhook_id: int,
    *,
    workspace_id: int,
    url: str | None = None,
    secret: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    policy: AddressPolicy | None = None,
) -> EventWebhook:
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = clean_url(url, policy or AddressPolicy())
    if description is not None:
        values["description"] = clean_description(description)
    if enabled is not None:
        values["enabled"] = enabled
    new_secret = clean_secret(secret) if secret is not None else None
    get_webhook(ctx, webhook_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        hook_store.update_webhook(conn, ctx.box, webhook_id, secret=new_secret, **values)
        updated = hook_store.get_webhook(conn, webhook_id)
    if enabled:
        ctx.wake()
    assert updated is not None
    return updated


def delete_webhook(ctx: ServiceContext, webhook_id: int, *, workspace_id: int) -> None:
    get_webhook(ctx, webhook_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        hook_store.delete_webhook(conn, webhook_id)


def deliveries(
    ctx: ServiceContext,
    webhook_id: int,
    *,
    workspace_id: int,
    limit: int = 50,
    before_id: int | None = None,
    status: str | None = None,
) -> tuple[list[Delivery], int | None]:
    """The delivery log, newest first, and the id to continue before (None on the last page)."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationError("status", f"status must be one of {', '.join(DELIVERY_STATUSES)}; got {status!r}")
    get_webhook(ctx, webhook_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        rows = hook_store.deliveries_of(conn, webhook_id, before_id=before_id, limit=limit + 1, status=status)
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def send_test(ctx: ServiceContext, dispatcher: DeliversNow, webhook_id: int, *, workspace_id: int) -> Delivery:
    """POST a signed `test` event at once and return the recorded attempt (no retries for a test)."""
    webhook = get_webhook(ctx, webhook_id, workspace_id=workspace_id)
    now = ctx.clock.now()
    payload = {
        "event_id": None,
        "type": "test",
        "at": now.isoformat(),
        "workspace_id": workspace_id,
        "channel_id": None,
        "session_id": None,
        "data": {"message": "a test event from wasession"},
    }
    with ctx.db.write() as conn:
        delivery_id = hook_store.insert_delivery(conn, webhook_id=webhook.id, event_id=None, payload=payload, now=now)
    return dispatcher.deliver_now(delivery_id, final=True)

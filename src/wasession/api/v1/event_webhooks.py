"""Outbound event webhooks (R16): CRUD, the delivery log and a test send."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import (
    DeliveryOut,
    DeliveryPage,
    EventWebhookIn,
    EventWebhookOut,
    EventWebhookPatch,
    PathId,
    errors,
    from_record,
)
from wasession.runtime_scope import RuntimeDep
from wasession.services import event_webhooks as hook_service
from wasession.services.errors import ValidationError
from wasession.services.event_webhooks import Delivery, EventWebhook


def webhook_out(w: EventWebhook) -> EventWebhookOut:
    return from_record(EventWebhookOut, w)


def delivery_out(d: Delivery) -> DeliveryOut:
    return from_record(DeliveryOut, d, payload=dict(d.payload))


router = APIRouter(tags=["event webhooks"])


@router.get("/event-webhooks", response_model=list[EventWebhookOut], responses=errors())
def list_webhooks(runtime: RuntimeDep, ws: int = Depends(workspace)) -> list[EventWebhookOut]:
    ctx = runtime.ctx
    return [webhook_out(w) for w in hook_service.list_webhooks(ctx, workspace_id=ws)]


@router.post(
    "/event-webhooks",
    status_code=201,
    response_model=EventWebhookOut,
    responses=errors(409),
    summary="Add a URL that receives every event of the workspace, signed with the secret",
)
def create_webhook(runtime: RuntimeDep, body: EventWebhookIn, ws: int = Depends(workspace)) -> EventWebhookOut:
    ctx = runtime.ctx
    created = hook_service.create_webhook(
        ctx,
        workspace_id=ws,
        url=body.url,
        secret=body.secret,
        description=body.description,
        enabled=body.enabled,
        policy=runtime.event_dispatch.policy,
        max_per_workspace=runtime.settings.max_event_webhooks_per_workspace,
    )
    runtime.wake()
    return webhook_out(created)


@router.get("/event-webhooks/{webhook_id}", response_model=EventWebhookOut, responses=errors(404))
def get_webhook(runtime: RuntimeDep, webhook_id: PathId, ws: int = Depends(workspace)) -> EventWebhookOut:
    ctx = runtime.ctx
    return webhook_out(hook_service.get_webhook(ctx, webhook_id, workspace_id=ws))


@router.patch("/event-webhooks/{webhook_id}", response_model=EventWebhookOut, responses=errors(404))
def patch_webhook(
    runtime: RuntimeDep, webhook_id: PathId, body: EventWebhookPatch, ws: int = Depends(workspace)
) -> EventWebhookOut:
    ctx = runtime.ctx
    updated = hook_service.update_webhook(
        ctx,
        webhook_id,
        workspace_id=ws,
        url=body.url,
        secret=body.secret,
        description=body.description,
        enabled=body.enabled,
        policy=runtime.event_dispatch.policy,
    )
    return webhook_out(updated)


@router.delete("/event-webhooks/{webhook_id}", status_code=204, responses=errors(404))
def delete_webhook(runtime: RuntimeDep, webhook_id: PathId, ws: int = Depends(workspace)) -> Response:
    ctx = runtime.ctx
    hook_service.delete_webhook(ctx, webhook_id, workspace_id=ws)
    return Response(status_code=204)


@router.get("/event-webhooks/{webhook_id}/deliveries", response_model=DeliveryPage, responses=errors(404))
def list_deliveries(
    runtime: RuntimeDep,
    webhook_id: PathId,
    ws: int = Depends(workspace),
    status: str | None = Query(None, description="pending, delivering, delivered or failed"),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=20),
) -> DeliveryPage:
    ctx = runtime.ctx
    if cursor is not None and (not cursor.isdigit() or len(cursor) > 18):
        raise ValidationError("cursor", "cursor is not one this API returned; pass next_cursor unchanged")
    page, before = hook_service.deliveries(
        ctx,
        webhook_id,
        workspace_id=ws,
        limit=limit,
        before_id=int(cursor) if cursor is not None else None,
        status=status,
    )
    return DeliveryPage(items=[delivery_out(d) for d in page], next_cursor=str(before) if before else None)


@router.post(
    "/event-webhooks/{webhook_id}/test",
    response_model=DeliveryOut,
    responses=errors(404),
    summary="POST a signed test event now and answer the recorded attempt",
)
def test_webhook(runtime: RuntimeDep, webhook_id: PathId, ws: int = Depends(workspace)) -> DeliveryOut:
    ctx = runtime.ctx
    return delivery_out(hook_service.send_test(ctx, runtime.event_dispatch, webhook_id, workspace_id=ws))

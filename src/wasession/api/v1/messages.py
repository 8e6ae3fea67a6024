"""Messages: resend one that failed, through the same service as the dashboard's resend button."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import MessageQueued, PathId, errors
from wasession.runtime_scope import RuntimeDep
from wasession.services import resend as resend_service

router = APIRouter(tags=["messages"])


@router.post(
    "/messages/{message_id}/resend",
    status_code=202,
    response_model=MessageQueued,
    responses=errors(404, 409),
    summary="Resend a failed reply or template; 409 maybe_sent for one whose outcome is unknown",
)
def resend(
    runtime: RuntimeDep,
    message_id: PathId,
    maybe_sent: bool = Query(
        False, description="true to resend a message whose send was interrupted and may have reached the customer"
    ),
    ws: int = Depends(workspace),
) -> MessageQueued:
    ctx = runtime.ctx
    new_id = resend_service.resend(ctx, message_id, workspace_id=ws, maybe_sent=maybe_sent)
    return MessageQueued(message_id=new_id, status="pending")

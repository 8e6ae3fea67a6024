"""A channel's usage page: what Meta priced this month, automated against human, and the cap (R23)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from wasession.domain.errors import ValidationError
from wasession.runtime_scope import RuntimeDep
from wasession.services import channels as channel_service
from wasession.services import usage as usage_service
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.render import page

router = APIRouter()


@router.get("/dashboard/channels/{channel_id}/usage", include_in_schema=False)
def usage_page(
    request: Request,
    runtime: RuntimeDep,
    channel_id: int,
    login: Annotated[LoginSession, Depends(auth.admin)],
    month: str | None = None,
) -> Response:
    ctx = runtime.ctx
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=login.workspace_id)
    try:
        usage = usage_service.channel_usage(ctx, channel_id, month or None, workspace_id=login.workspace_id)
        error = None
    except ValidationError as exc:
        usage = usage_service.channel_usage(ctx, channel_id, None, workspace_id=login.workspace_id)
        error = exc.message
    return page(
        runtime,
        request,
        "usage.html",
        login,
        status_code=200 if error is None else 422,
        channel=channel,
        usage=usage,
        error=error,
    )

"""Channels and their policy. Credentials are write-only: accepted, encrypted, never answered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import (
    OPERATOR_ONLY,
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    PathId,
    PolicyOut,
    PolicySaved,
    errors,
    from_record,
)
from wasession.runtime_scope import RuntimeDep
from wasession.services import channel_admin
from wasession.services import channels as channel_service
from wasession.services.channels import SETTINGS_SAVED, Channel, NewChannel
from wasession.services.errors import ValidationError


def channel_out(c: Channel) -> ChannelOut:
    return from_record(ChannelOut, c, policy=c.policy.to_public())


def refuse_operator_fields(body: ChannelIn | ChannelPatch) -> None:
    """Where a channel's Graph calls go (and carry its token) is the operator's choice, not a tenant's."""
    for name in OPERATOR_ONLY:
        if name in body.model_fields_set:
            raise ValidationError(
                name,
                f"{name} cannot be set through the API; the operator sets it (WASESSION_GRAPH_BASE_URL, "
                "WASESSION_GRAPH_VERSION, or `wasession channels add --graph-base-url`)",
                code="operator_only",
            )


POLICY_EXAMPLE = {"reminder_enabled": True, "reminder_after_hours": 20, "session_timeout": "24h"}


router = APIRouter(tags=["channels"])


@router.get("/channels", response_model=list[ChannelOut], responses=errors())
def list_channels(runtime: RuntimeDep, ws: int = Depends(workspace)) -> list[ChannelOut]:
    ctx = runtime.ctx
    return [channel_out(c) for c in channel_service.list_channels(ctx, workspace_id=ws)]


@router.post(
    "/channels",
    status_code=201,
    response_model=ChannelOut,
    responses=errors(409, 502),
    summary="Add a channel; Meta is asked, with its own token, that the token may act for the number",
)
def create_channel(runtime: RuntimeDep, body: ChannelIn, ws: int = Depends(workspace)) -> ChannelOut:
    ctx = runtime.ctx
    refuse_operator_fields(body)
    new = NewChannel(
        name=body.name,
        phone_number_id=body.phone_number_id,
        access_token=body.access_token,
        app_secret=body.app_secret,
        verify_token=body.verify_token,
        display_phone_number=body.display_phone_number,
        rate_limit_per_second=body.rate_limit_per_second,
    )
    limit = runtime.settings.max_channels_per_workspace
    graph = runtime.workers.client_for(None)
    channel = channel_service.add_channel(ctx, graph, new, body.policy, workspace_id=ws, max_channels=limit)
    runtime.ingestor.credentials.invalidate()
    return channel_out(channel)


@router.get("/channels/{channel_id}", response_model=ChannelOut, responses=errors(404))
def get_channel(runtime: RuntimeDep, channel_id: PathId, ws: int = Depends(workspace)) -> ChannelOut:
    ctx = runtime.ctx
    return channel_out(channel_service.get_channel(ctx, channel_id, workspace_id=ws))


@router.patch(
    "/channels/{channel_id}",
    response_model=ChannelOut,
    responses=errors(404),
    summary="Change a channel; giving access_token, app_secret or verify_token rotates it",
)
def patch_channel(
    runtime: RuntimeDep, channel_id: PathId, body: ChannelPatch, ws: int = Depends(workspace)
) -> ChannelOut:
    # Checked before anything is written, so a refused PATCH changes nothing at all.
    ctx = runtime.ctx
    refuse_operator_fields(body)
    for name in ("access_token", "app_secret", "verify_token"):
        value = getattr(body, name)
        if value is not None and not value.strip():
            raise ValidationError(name, f"{name} may not be empty", code="required")
    channel = channel_admin.update_channel(
        ctx,
        channel_id,
        workspace_id=ws,
        name=body.name,
        display_phone_number=body.display_phone_number,
        rate_limit_per_second=body.rate_limit_per_second,
    )
    if body.access_token is not None or body.app_secret is not None or body.verify_token is not None:
        channel = channel_service.update_credentials(
            ctx,
            channel_id,
            access_token=body.access_token,
            app_secret=body.app_secret,
            verify_token=body.verify_token,
            workspace_id=ws,
        )
        runtime.ingestor.credentials.invalidate()
    return channel_out(channel)


@router.delete("/channels/{channel_id}", status_code=204, responses=errors(404))
def delete_channel(runtime: RuntimeDep, channel_id: PathId, ws: int = Depends(workspace)) -> Response:
    ctx = runtime.ctx
    channel_admin.delete_channel(ctx, channel_id, workspace_id=ws)
    runtime.ingestor.credentials.invalidate()
    return Response(status_code=204)


@router.get("/channels/{channel_id}/policy", response_model=PolicyOut, responses=errors(404))
def get_policy(runtime: RuntimeDep, channel_id: PathId, ws: int = Depends(workspace)) -> PolicyOut:
    ctx = runtime.ctx
    return PolicyOut(policy=channel_service.get_channel(ctx, channel_id, workspace_id=ws).policy.to_public())


@router.put(
    "/channels/{channel_id}/policy",
    response_model=PolicySaved,
    responses=errors(404),
    summary="Save policy settings (docs/rules.md, the policy settings); settings left out keep their value",
)
def put_policy(
    runtime: RuntimeDep,
    channel_id: PathId,
    ws: int = Depends(workspace),
    body: dict[str, Any] = Body(examples=[POLICY_EXAMPLE]),  # noqa: B008 - FastAPI's idiom
) -> PolicySaved:
    ctx = runtime.ctx
    saved = channel_service.save_policy(ctx, channel_id, body, workspace_id=ws)
    return PolicySaved(message=SETTINGS_SAVED, policy=saved.to_public())

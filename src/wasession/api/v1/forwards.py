"""The webhook relay's forward targets of a channel (issue 16): CRUD, pause/resume, replay, delivery log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, Strict, errors, from_record
from wasession.domain.relay import FIELDS
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import forwards as forward_service
from wasession.services.errors import ValidationError
from wasession.services.forwards import Attempt, Target

_FIELDS_HELP = f"which changes it is given, any of {', '.join(FIELDS)} (default: all)"
_SECRET_HELP = "its own signing secret (16-256 characters); without one Meta's X-Hub-Signature-256 is passed on"


class ForwardIn(Strict):
    url: str = Field(max_length=2000)
    secret: str | None = Field(
        default=None, max_length=256, description=_SECRET_HELP, json_schema_extra={"writeOnly": True}
    )
    fields: list[str] | None = Field(default=None, max_length=len(FIELDS), description=_FIELDS_HELP)
    description: str = Field(default="", max_length=500)


class ForwardPatch(Strict):
    url: str | None = Field(default=None, max_length=2000)
    secret: str | None = Field(
        default=None,
        max_length=256,
        description=_SECRET_HELP + '; "" removes it',
        json_schema_extra={"writeOnly": True},
    )
    fields: list[str] | None = Field(default=None, max_length=len(FIELDS), description=_FIELDS_HELP)
    description: str | None = Field(default=None, max_length=500)
    paused: bool | None = None


class ForwardOut(BaseModel):
    id: int
    channel_id: int
    url: str
    secret: str | None = Field(description=f'"{forward_service.MASK}" when it has its own secret, else null')
    fields: list[str]
    description: str
    paused: bool
    cursor: int = Field(description="the last webhook log id delivered, skipped or given up")
    attempts: int = Field(description="failed attempts of the body after the cursor")
    next_attempt_at: datetime | None
    created_at: datetime


class ReplayIn(Strict):
    from_log_id: int | None = Field(default=None, ge=1, description="deliver again from this webhook log id")
    since: AwareDatetime | None = Field(
        default=None, description="or every body received at or after this time (with its UTC offset)"
    )


class AttemptOut(BaseModel):
    id: int
    log_id: int
    attempt: int
    at: datetime
    outcome: str = Field(description="delivered, failed, given_up or skipped (not forwarded: `error` says why)")
    status_code: int | None
    error: str | None
    duration_ms: int


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


def forward_out(t: Target) -> ForwardOut:
    return from_record(ForwardOut, t, secret=forward_service.MASK if t.resigned else None, fields=list(t.fields))


def attempt_out(a: Attempt) -> AttemptOut:
    return from_record(AttemptOut, a)


router = APIRouter(tags=["webhook relay"])


base = "/channels/{channel_id}/forwards"


@router.get(base, response_model=list[ForwardOut], responses=errors(404))
def list_forwards(runtime: RuntimeDep, channel_id: PathId, ws: int = Depends(workspace)) -> list[ForwardOut]:
    ctx = runtime.ctx
    return [forward_out(t) for t in forward_service.list_forwards(ctx, channel_id, workspace_id=ws)]


@router.post(
    base,
    status_code=201,
    response_model=ForwardOut,
    responses=errors(404, 409),
    summary="Pass every webhook of this channel accepted from now on to a URL, as received",
)
def create_forward(
    runtime: RuntimeDep, channel_id: PathId, body: ForwardIn, ws: int = Depends(workspace)
) -> ForwardOut:
    ctx = runtime.ctx
    created = forward_service.create_forward(
        ctx,
        channel_id,
        workspace_id=ws,
        url=body.url,
        secret=body.secret,
        fields=body.fields,
        description=body.description,
        policy=runtime.relay.policy,
        max_per_workspace=runtime.settings.max_forwards_per_workspace,
    )
    return forward_out(created)


@router.get(base + "/{forward_id}", response_model=ForwardOut, responses=errors(404))
def get_forward(
    runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, ws: int = Depends(workspace)
) -> ForwardOut:
    ctx = runtime.ctx
    return forward_out(forward_service.get_forward(ctx, channel_id, forward_id, workspace_id=ws))


@router.patch(base + "/{forward_id}", response_model=ForwardOut, responses=errors(404))
def patch_forward(
    runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, body: ForwardPatch, ws: int = Depends(workspace)
) -> ForwardOut:
    ctx = runtime.ctx
    updated = forward_service.update_forward(
        ctx,
        channel_id,
        forward_id,
        workspace_id=ws,
        url=body.url,
        secret=body.secret,
        fields=body.fields,
        description=body.description,
        paused=body.paused,
        policy=runtime.relay.policy,
    )
    runtime.wake()
    return forward_out(updated)


@router.delete(base + "/{forward_id}", status_code=204, responses=errors(404))
def delete_forward(
    runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, ws: int = Depends(workspace)
) -> Response:
    ctx = runtime.ctx
    forward_service.delete_forward(ctx, channel_id, forward_id, workspace_id=ws)
    return Response(status_code=204)


def set_paused(runtime: Runtime, channel_id: int, forward_id: int, ws: int, paused: bool) -> ForwardOut:
    ctx = runtime.ctx
    changed = forward_service.set_paused(ctx, channel_id, forward_id, workspace_id=ws, paused=paused)
    runtime.wake()
    return forward_out(changed)


@router.post(base + "/{forward_id}/pause", response_model=ForwardOut, responses=errors(404), summary="Stop delivering")
def pause(runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, ws: int = Depends(workspace)) -> ForwardOut:
    return set_paused(runtime, channel_id, forward_id, ws, True)


@router.post(
    base + "/{forward_id}/resume",
    response_model=ForwardOut,
    responses=errors(404),
    summary="Deliver again, starting with what arrived while paused",
)
def resume(runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, ws: int = Depends(workspace)) -> ForwardOut:
    return set_paused(runtime, channel_id, forward_id, ws, False)


@router.post(
    base + "/{forward_id}/replay",
    response_model=ForwardOut,
    responses=errors(404),
    summary="Deliver the stored bodies again, in order, from a webhook log id or a time",
)
def replay(
    runtime: RuntimeDep, channel_id: PathId, forward_id: PathId, body: ReplayIn, ws: int = Depends(workspace)
) -> ForwardOut:
    ctx = runtime.ctx
    moved = forward_service.replay(
        ctx, channel_id, forward_id, workspace_id=ws, from_log_id=body.from_log_id, since=body.since
    )
    return forward_out(moved)


@router.get(base + "/{forward_id}/deliveries", response_model=AttemptPage, responses=errors(404))
def deliveries(
    runtime: RuntimeDep,
    channel_id: PathId,
    forward_id: PathId,
    ws: int = Depends(workspace),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=20),
) -> AttemptPage:
    ctx = runtime.ctx
    if cursor is not None and (not cursor.isdigit() or len(cursor) > 18):
        raise ValidationError("cursor", "cursor is not one this API returned; pass next_cursor unchanged")
    page, before = forward_service.deliveries(
        ctx,
        channel_id,
        forward_id,
        workspace_id=ws,
        limit=limit,
        before_id=int(cursor) if cursor is not None else None,
    )
    return AttemptPage(items=[attempt_out(a) for a in page], next_cursor=str(before) if before else None)

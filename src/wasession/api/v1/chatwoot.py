"""Chatwoot connections (issue 22): connect, list, show, pause/resume, remove. API keys are the
workspace administrator's, so every route here is admin only by construction."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, Strict, errors, from_record
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import chatwoot
from wasession.services.chatwoot import ChatwootConnection


class ConnectIn(Strict):
    channel_id: int = Field(ge=1)
    url: str = Field(max_length=2000, description="Chatwoot's base URL, e.g. https://chat.example.com")
    account_id: int = Field(ge=1)
    inbox_id: int = Field(ge=1, description="the WhatsApp inbox of the channel's number")
    api_token: str = Field(max_length=200, json_schema_extra={"writeOnly": True})
    webhook_secret: str | None = Field(
        default=None,
        max_length=256,
        description="the secret of Chatwoot's webhook",
        json_schema_extra={"writeOnly": True},
    )
    send_via: str = Field(default="chatwoot", description="chatwoot (Chatwoot sends what we send) or direct")


class ConnectionOut(BaseModel):
    id: int
    channel_id: int
    url: str
    account_id: int
    inbox_id: int
    send_via: str
    paused: bool
    signed: bool = Field(description="a webhook secret is set: unsigned webhooks are refused")
    webhook_path: str = Field(description="POST path for Chatwoot's webhook, after this server's public URL")
    relay_target: str = Field(description="Chatwoot's own WhatsApp webhook route, for a relay forward target")
    last_error: str | None
    last_error_at: datetime | None
    calls: dict[str, int] = Field(default_factory=dict, description="calls to Chatwoot by state")
    created_at: datetime


def connection_out(runtime: Runtime, c: ChatwootConnection, calls: dict[str, int] | None = None) -> ConnectionOut:
    return from_record(
        ConnectionOut,
        c,
        webhook_path=chatwoot.webhook_path(c.id),
        relay_target=chatwoot.relay_target_of(c),
        calls=calls or {},
    )


router = APIRouter(tags=["chatwoot"])


@router.get("/chatwoot", response_model=list[ConnectionOut])
def list_connections(runtime: RuntimeDep, ws: int = Depends(workspace)) -> list[ConnectionOut]:
    ctx = runtime.ctx
    return [connection_out(runtime, c) for c in chatwoot.list_connections(ctx, workspace_id=ws)]


@router.post(
    "/chatwoot",
    status_code=201,
    response_model=ConnectionOut,
    responses=errors(404, 409),
    summary="Connect a channel to a Chatwoot account and WhatsApp inbox (checked against Chatwoot first)",
)
def connect(runtime: RuntimeDep, body: ConnectIn, ws: int = Depends(workspace)) -> ConnectionOut:
    ctx = runtime.ctx
    done = chatwoot.connect(
        ctx,
        body.channel_id,
        workspace_id=ws,
        url=body.url,
        account_id=body.account_id,
        inbox_id=body.inbox_id,
        api_token=body.api_token,
        webhook_secret=body.webhook_secret,
        send_via=body.send_via,
        policy=runtime.relay.policy,
    )
    return connection_out(runtime, done.connection)


@router.get("/chatwoot/{connection_id}", response_model=ConnectionOut, responses=errors(404))
def show(runtime: RuntimeDep, connection_id: PathId, ws: int = Depends(workspace)) -> ConnectionOut:
    ctx = runtime.ctx
    found = chatwoot.get_connection(ctx, connection_id, workspace_id=ws)
    counts, _ = chatwoot.connection_status(ctx, connection_id, workspace_id=ws)
    return connection_out(runtime, found, counts)


@router.post("/chatwoot/{connection_id}/pause", response_model=ConnectionOut, responses=errors(404))
def pause(runtime: RuntimeDep, connection_id: PathId, ws: int = Depends(workspace)) -> ConnectionOut:
    ctx = runtime.ctx
    return connection_out(runtime, chatwoot.set_paused(ctx, connection_id, workspace_id=ws, paused=True))


@router.post("/chatwoot/{connection_id}/resume", response_model=ConnectionOut, responses=errors(404))
def resume(runtime: RuntimeDep, connection_id: PathId, ws: int = Depends(workspace)) -> ConnectionOut:
    ctx = runtime.ctx
    changed = chatwoot.set_paused(ctx, connection_id, workspace_id=ws, paused=False)
    runtime.wake()
    return connection_out(runtime, changed)


@router.delete("/chatwoot/{connection_id}", status_code=204, responses=errors(404))
def remove(runtime: RuntimeDep, connection_id: PathId, ws: int = Depends(workspace)) -> Response:
    ctx = runtime.ctx
    chatwoot.remove(ctx, connection_id, workspace_id=ws)
    return Response(status_code=204)

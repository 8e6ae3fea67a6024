"""The key's own workspace, and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from wasession.api.v1.auth import workspace_dependency
from wasession.api.v1.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, PathId, WorkspaceOut, errors
from wasession.runtime import Runtime
from wasession.services import apikeys as key_service
from wasession.services import workspaces as workspace_service
from wasession.services.apikeys import ApiKey


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["workspace"])
    ctx = runtime.ctx
    workspace = workspace_dependency(runtime)

    @r.get("/workspace", response_model=WorkspaceOut, responses=errors(), summary="The key's workspace")
    def get_workspace(ws: int = Depends(workspace)) -> WorkspaceOut:
        found = workspace_service.get_workspace(ctx, ws)
        return WorkspaceOut(id=found.id, name=found.name, created_at=found.created_at)

    @r.get("/api-keys", response_model=list[ApiKeyOut], responses=errors(), summary="API keys (never the keys)")
    def list_keys(ws: int = Depends(workspace)) -> list[ApiKeyOut]:
        return [key_out(k) for k in key_service.list_keys(ctx, workspace_id=ws)]

    @r.post(
        "/api-keys",
        status_code=201,
        response_model=ApiKeyCreated,
        responses=errors(),
        summary="Create an API key; the key is in this response only",
    )
    def create_key(body: ApiKeyIn, ws: int = Depends(workspace)) -> ApiKeyCreated:
        created = key_service.create_key(ctx, workspace_id=ws, name=body.name)
        return ApiKeyCreated(**key_out(created.key).model_dump(), key=created.secret)

    @r.delete("/api-keys/{key_id}", response_model=ApiKeyOut, responses=errors(404), summary="Revoke an API key")
    def revoke_key(key_id: PathId, ws: int = Depends(workspace)) -> ApiKeyOut:
        return key_out(key_service.revoke_key(ctx, key_id, workspace_id=ws))

    return r

"""The key's own workspace, and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, PathId, WorkspaceOut, errors, from_record
from wasession.runtime_scope import RuntimeDep
from wasession.services import apikeys as key_service
from wasession.services import workspaces as workspace_service
from wasession.services.apikeys import ApiKey


def key_out(key: ApiKey) -> ApiKeyOut:
    return from_record(ApiKeyOut, key)


router = APIRouter(tags=["workspace"])


@router.get("/workspace", response_model=WorkspaceOut, responses=errors(), summary="The key's workspace")
def get_workspace(runtime: RuntimeDep, ws: int = Depends(workspace)) -> WorkspaceOut:
    ctx = runtime.ctx
    found = workspace_service.get_workspace(ctx, ws)
    return from_record(WorkspaceOut, found)


@router.get("/api-keys", response_model=list[ApiKeyOut], responses=errors(), summary="API keys (never the keys)")
def list_keys(runtime: RuntimeDep, ws: int = Depends(workspace)) -> list[ApiKeyOut]:
    ctx = runtime.ctx
    return [key_out(k) for k in key_service.list_keys(ctx, workspace_id=ws)]


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=errors(),
    summary="Create an API key; the key is in this response only",
)
def create_key(runtime: RuntimeDep, body: ApiKeyIn, ws: int = Depends(workspace)) -> ApiKeyCreated:
    ctx = runtime.ctx
    created = key_service.create_key(ctx, workspace_id=ws, name=body.name)
    return ApiKeyCreated(**key_out(created.key).model_dump(), key=created.secret)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, responses=errors(404), summary="Revoke an API key")
def revoke_key(runtime: RuntimeDep, key_id: PathId, ws: int = Depends(workspace)) -> ApiKeyOut:
    ctx = runtime.ctx
    return key_out(key_service.revoke_key(ctx, key_id, workspace_id=ws))

"""A workspace's canned replies (issue 23): a short name and a text with merge fields."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, Strict, errors, from_record
from wasession.domain.canned import MAX_TEXT
from wasession.runtime_scope import RuntimeDep
from wasession.services import canned_replies as canned_service
from wasession.services.canned_replies import CannedReply


class CannedReplyIn(Strict):
    name: str = Field(max_length=200, description="a slash and a short name, unique in the workspace: /thanks")
    text: str = Field(
        max_length=100_000,
        description=f"up to {MAX_TEXT} characters; merge fields "
        "{{contact_name}}, {{wa_id}}, {{agent_name}}",
    )


class CannedReplyOut(BaseModel):
    id: int
    name: str
    text: str
    created_at: datetime
    updated_at: datetime


def canned_out(c: CannedReply) -> CannedReplyOut:
    return from_record(CannedReplyOut, c)


router = APIRouter(tags=["canned replies"])


@router.get("/canned-replies", response_model=list[CannedReplyOut], responses=errors())
def list_replies(runtime: RuntimeDep, ws: int = Depends(workspace)) -> list[CannedReplyOut]:
    return [canned_out(c) for c in canned_service.list_replies(runtime.ctx, workspace_id=ws)]


@router.post("/canned-replies", status_code=201, response_model=CannedReplyOut, responses=errors(409))
def create_reply(runtime: RuntimeDep, body: CannedReplyIn, ws: int = Depends(workspace)) -> CannedReplyOut:
    return canned_out(canned_service.create(runtime.ctx, body.name, body.text, workspace_id=ws))


@router.get("/canned-replies/{reply_id}", response_model=CannedReplyOut, responses=errors(404))
def get_reply(runtime: RuntimeDep, reply_id: PathId, ws: int = Depends(workspace)) -> CannedReplyOut:
    return canned_out(canned_service.get(runtime.ctx, reply_id, workspace_id=ws))


@router.put("/canned-replies/{reply_id}", response_model=CannedReplyOut, responses=errors(404, 409))
def put_reply(
    runtime: RuntimeDep, reply_id: PathId, body: CannedReplyIn, ws: int = Depends(workspace)
) -> CannedReplyOut:
    return canned_out(canned_service.update(runtime.ctx, reply_id, workspace_id=ws, name=body.name, text=body.text))


@router.delete("/canned-replies/{reply_id}", status_code=204, responses=errors(404))
def delete_reply(runtime: RuntimeDep, reply_id: PathId, ws: int = Depends(workspace)) -> Response:
    canned_service.delete(runtime.ctx, reply_id, workspace_id=ws)
    return Response(status_code=204)

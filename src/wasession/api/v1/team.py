"""A team's inbox (issue 23): a session's assignee and its private notes, scoped to the key's workspace."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from wasession.api.v1.auth import request_actor, workspace
from wasession.api.v1.schemas import PathId, Strict, errors, from_record
from wasession.api.v1.sessions import own_session
from wasession.runtime_scope import RuntimeDep
from wasession.services import team as team_service
from wasession.services.team import Assignment, Note


class AssigneeIn(Strict):
    user: str = Field(max_length=200, description="the username of a dashboard user of the workspace")


class AssigneeOut(BaseModel):
    user: str | None = Field(description="the username the session is assigned to; null when nobody")
    assigned_at: datetime | None
    assigned_by: str | None = Field(description='a dashboard username, or "API key <name>"')


class NoteIn(Strict):
    text: str = Field(max_length=100_000, description=f"1 to {team_service.MAX_NOTE} characters")


class NoteOut(BaseModel):
    id: int
    session_id: int
    author: str = Field(description='the dashboard username, or "API key <name>"')
    text: str
    created_at: datetime


def assignee_out(a: Assignment | None) -> AssigneeOut:
    if a is None:
        return AssigneeOut(user=None, assigned_at=None, assigned_by=None)
    return AssigneeOut(user=a.username, assigned_at=a.assigned_at, assigned_by=a.assigned_by)


def note_out(n: Note) -> NoteOut:
    return from_record(NoteOut, n)


router = APIRouter(tags=["team"])


@router.get("/sessions/{session_id}/assignee", response_model=AssigneeOut, responses=errors(404))
def get_assignee(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> AssigneeOut:
    ctx = runtime.ctx
    return assignee_out(team_service.assignee(ctx, session_id, workspace_id=ws))


@router.put(
    "/sessions/{session_id}/assignee",
    response_model=AssigneeOut,
    responses=errors(404),
    summary="Assign the session to a dashboard user of the workspace (event session_assigned)",
)
def put_assignee(
    runtime: RuntimeDep, session_id: PathId, body: AssigneeIn, request: Request, ws: int = Depends(own_session)
) -> AssigneeOut:
    ctx = runtime.ctx
    found = team_service.assign(ctx, session_id, body.user, workspace_id=ws, by=request_actor(request))
    return assignee_out(found)


@router.delete(
    "/sessions/{session_id}/assignee",
    status_code=204,
    responses=errors(404),
    summary="Unassign the session (event session_assigned with assignee null)",
)
def delete_assignee(
    runtime: RuntimeDep, session_id: PathId, request: Request, ws: int = Depends(workspace)
) -> Response:
    ctx = runtime.ctx
    team_service.unassign(ctx, session_id, workspace_id=ws, by=request_actor(request))
    return Response(status_code=204)


@router.get("/sessions/{session_id}/notes", response_model=list[NoteOut], responses=errors(404))
def list_notes(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> list[NoteOut]:
    ctx = runtime.ctx
    return [note_out(n) for n in team_service.notes(ctx, session_id, workspace_id=ws)]


@router.post(
    "/sessions/{session_id}/notes",
    status_code=201,
    response_model=NoteOut,
    responses=errors(404),
    summary="Add a private note: shown to the team, never sent to WhatsApp",
)
def add_note(
    runtime: RuntimeDep, session_id: PathId, body: NoteIn, request: Request, ws: int = Depends(own_session)
) -> NoteOut:
    return note_out(
        team_service.add_note(runtime.ctx, session_id, body.text, workspace_id=ws, author=request_actor(request))
    )

"""The dry run of a policy save: what it would move in the open chats, nothing written (R11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, errors
from wasession.runtime_scope import RuntimeDep
from wasession.services import policy_impact
from wasession.services import usage as usage_service


class SessionMoveOut(BaseModel):
    session_id: int
    closes_at_before: datetime
    closes_at_after: datetime
    reminder_due_before: datetime | None
    reminder_due_after: datetime | None
    closes_now: bool


class PolicyImpactOut(BaseModel):
    active_sessions: int
    close_now: int
    closures_moved: int
    reminders_moved: int
    summary: list[str]
    moves: list[SessionMoveOut]
    # R23: what the proposed policy's automated sends would have cost last month, at most (null without
    # a rate card or without automated sends).
    automated_cost_last_month: str | None = None


router = APIRouter(tags=["channels"])


@router.post(
    "/channels/{channel_id}/policy/preview",
    response_model=PolicyImpactOut,
    responses=errors(404),
    summary="What saving these settings would move in the open chats (closures, reminders); saves nothing",
)
def preview_policy(
    runtime: RuntimeDep,
    channel_id: PathId,
    ws: int = Depends(workspace),
    body: dict[str, Any] = Body(examples=[{"session_timeout": "2h"}]),  # noqa: B008 - FastAPI's idiom
) -> PolicyImpactOut:
    ctx = runtime.ctx
    found = policy_impact.preview_policy(ctx, channel_id, body, workspace_id=ws)
    cost = usage_service.proposed_ladder_cost(ctx, channel_id, body, workspace_id=ws)
    return PolicyImpactOut(
        active_sessions=found.active,
        close_now=found.close_now,
        closures_moved=found.closures_moved,
        reminders_moved=found.reminders_moved,
        summary=found.sentences(),
        moves=[SessionMoveOut(**vars(m)) for m in found.moves],
        automated_cost_last_month=None if cost is None else cost.sentence(),
    )

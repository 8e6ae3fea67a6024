"""Numbers Meta sends webhooks for that no channel has, signed by an app secret of this workspace."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import errors
from wasession.runtime_scope import RuntimeDep
from wasession.services import unrouted as unrouted_service


class UnroutedNumberOut(BaseModel):
    phone_number_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    bodies: int  # at least this many bodies (each process adds its count every few seconds)
    message: str


class UnroutedNumbersOut(BaseModel):
    items: list[UnroutedNumberOut]


router = APIRouter(tags=["webhooks"])


@router.get(
    "/unrouted-numbers",
    response_model=UnroutedNumbersOut,
    responses=errors(),
    summary="Phone numbers Meta sends webhooks for, signed by this workspace's app secret, that no channel has",
)
def list_unrouted(runtime: RuntimeDep, ws: int = Depends(workspace)) -> UnroutedNumbersOut:
    return UnroutedNumbersOut(
        items=[
            UnroutedNumberOut(
                phone_number_id=n.phone_number_id,
                first_seen_at=n.first_seen_at,
                last_seen_at=n.last_seen_at,
                bodies=n.bodies,
                message=unrouted_service.notice(n),
            )
            for n in unrouted_service.list_unrouted(runtime.ctx, ws)
        ]
    )

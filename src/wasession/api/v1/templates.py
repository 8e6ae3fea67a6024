"""A channel's approved message templates, fetched from its WhatsApp Business Account and cached."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, errors
from wasession.runtime_scope import RuntimeDep
from wasession.services import templates as template_service
from wasession.services.templates import Catalog


class TemplateOut(BaseModel):
    name: str
    language: str
    category: str
    body: str
    parameters: list[str]


class CatalogOut(BaseModel):
    waba_id: str | None
    fetched_at: datetime | None
    error: str | None
    templates: list[TemplateOut]


class RefreshIn(BaseModel):
    waba_id: str | None = Field(None, max_length=64, description="the WhatsApp Business Account id; kept for later")


def catalog_out(c: Catalog) -> CatalogOut:
    return CatalogOut(
        waba_id=c.waba_id,
        fetched_at=c.fetched_at,
        error=c.error,
        templates=[TemplateOut(**vars(t)) for t in c.templates],
    )


router = APIRouter(tags=["templates"])


@router.get("/channels/{channel_id}/templates", response_model=CatalogOut, responses=errors(404))
def list_templates(runtime: RuntimeDep, channel_id: PathId, ws: int = Depends(workspace)) -> CatalogOut:
    ctx = runtime.ctx
    return catalog_out(template_service.catalog(ctx, channel_id, workspace_id=ws))


@router.post(
    "/channels/{channel_id}/templates/refresh",
    response_model=CatalogOut,
    responses=errors(404, 502),
    summary="Fetch the approved templates of the channel's WhatsApp Business Account from Meta",
)
def refresh(runtime: RuntimeDep, channel_id: PathId, body: RefreshIn, ws: int = Depends(workspace)) -> CatalogOut:
    ctx = runtime.ctx
    found = template_service.refresh(ctx, runtime.client_for, channel_id, waba_id=body.waba_id, workspace_id=ws)
    return catalog_out(found)

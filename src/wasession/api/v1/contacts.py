"""Contacts: read, edit the merge-field values, import a CSV with a per-row error report."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import (
    ContactOut,
    ContactPage,
    ContactPatch,
    ImportReportOut,
    PathId,
    RowErrorOut,
    errors,
    from_record,
)
from wasession.runtime_scope import RuntimeDep
from wasession.services import contacts as contact_service
from wasession.services.contacts import Contact
from wasession.services.errors import ValidationError

MAX_CSV_BYTES = 5 * 1024 * 1024


def contact_out(c: Contact) -> ContactOut:
    return from_record(ContactOut, c, display_name=c.display_name())


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationError("cursor", "cursor is not one this API returned; pass next_cursor unchanged")
    return int(cursor)


router = APIRouter(tags=["contacts"])


@router.get("/contacts", response_model=ContactPage, responses=errors())
def list_contacts(
    runtime: RuntimeDep,
    ws: int = Depends(workspace),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=20),
    wa_id: str | None = Query(None, description="the contact's WhatsApp number, e.g. 15551234567", max_length=40),
) -> ContactPage:
    ctx = runtime.ctx
    page, after = contact_service.list_contacts(ctx, workspace_id=ws, limit=limit, after_id=_after(cursor), wa_id=wa_id)
    return ContactPage(items=[contact_out(c) for c in page], next_cursor=str(after) if after else None)


@router.get("/contacts/{contact_id}", response_model=ContactOut, responses=errors(404))
def get_contact(runtime: RuntimeDep, contact_id: PathId, ws: int = Depends(workspace)) -> ContactOut:
    ctx = runtime.ctx
    return contact_out(contact_service.get_contact(ctx, contact_id, workspace_id=ws))


@router.patch(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    responses=errors(404),
    summary="Set first_name, last_name, email (null resets a name to the WhatsApp profile name)",
)
def patch_contact(
    runtime: RuntimeDep, contact_id: PathId, body: ContactPatch, ws: int = Depends(workspace)
) -> ContactOut:
    ctx = runtime.ctx
    changes = body.model_dump(exclude_unset=True)
    return contact_out(contact_service.update_contact(ctx, contact_id, changes, workspace_id=ws))


@router.post(
    "/contacts/import",
    response_model=ImportReportOut,
    responses=errors(413),
    summary="Import contacts from CSV (wa_id, first_name, last_name, email); bad rows are reported",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_contacts(request: Request, runtime: RuntimeDep, ws: int = Depends(workspace)) -> ImportReportOut:
    ctx = runtime.ctx
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise ValidationError("file", f"the CSV may be at most {MAX_CSV_BYTES // (1024 * 1024)} MB", "too_large")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("file", "the CSV must be UTF-8 text", "not_utf8") from exc
    from starlette.concurrency import run_in_threadpool

    report = await run_in_threadpool(contact_service.import_csv, ctx, text, workspace_id=ws)
    return ImportReportOut(
        created=report.created,
        updated=report.updated,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )

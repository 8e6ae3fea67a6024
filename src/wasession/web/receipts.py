"""The session page's read receipt and typing indicator on WhatsApp (issue 26): two small POSTs the
page's script makes, answered with whether Meta was asked (the channel's `read_receipts` decides)."""

# No `from __future__ import annotations`: FastAPI must see `Depends(auth.form)` evaluated, and `auth`
# is this function's argument, not a module name.
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from wasession.runtime_scope import RuntimeDep
from wasession.services import receipts
from wasession.web import auth
from wasession.web.auth import Form

router = APIRouter()


@router.post("/dashboard/sessions/{session_id}/whatsapp/read", include_in_schema=False)
def read(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> JSONResponse:
    sent = receipts.mark_read(runtime.ctx, runtime.client_for, session_id, workspace_id=form.login.workspace_id)
    return JSONResponse({"sent": sent})


@router.post("/dashboard/sessions/{session_id}/whatsapp/typing", include_in_schema=False)
def typing(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> JSONResponse:
    sent = receipts.mark_read(
        runtime.ctx, runtime.client_for, session_id, workspace_id=form.login.workspace_id, typing=True
    )
    return JSONResponse({"sent": sent})

"""The session page's snooze and wake buttons (issue 13, R20): the same service functions as the API's
POST and DELETE /api/v1/sessions/{id}/snooze."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from wasession.domain.errors import ValidationError
from wasession.runtime_scope import RuntimeDep
from wasession.services import snooze as snooze_service
from wasession.services.errors import ConflictError
from wasession.web import auth
from wasession.web.auth import Form

router = APIRouter()


@router.post("/dashboard/sessions/{session_id}/snooze", include_in_schema=False)
def snooze_session(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
    ctx = runtime.ctx
    try:
        snooze_service.snooze(ctx, session_id, form.get("until"), workspace_id=form.login.workspace_id)
    except (ValidationError, ConflictError):
        return RedirectResponse(f"/dashboard/sessions/{session_id}?notice=not_snoozed", status_code=303)
    return RedirectResponse(f"/dashboard/sessions/{session_id}?notice=snoozed", status_code=303)


@router.post("/dashboard/sessions/{session_id}/wake", include_in_schema=False)
def wake_session(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
    ctx = runtime.ctx
    snooze_service.wake(ctx, session_id, workspace_id=form.login.workspace_id)
    return RedirectResponse(f"/dashboard/sessions/{session_id}?notice=woke", status_code=303)

"""A team sharing the inbox (issue 23) on the dashboard: assign a chat (or take it), private notes on
the session page, and the workspace's canned replies (a page to keep them; a picker in the reply box).
The same service functions as the API's /sessions/{id}/assignee, /sessions/{id}/notes and
/canned-replies; sending a filled canned reply stays the reply form's one path."""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wasession.domain import canned
from wasession.domain.errors import ValidationError
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import canned_replies as canned_service
from wasession.services import team as team_service
from wasession.services.errors import ConflictError
from wasession.services.queries import SessionSummary
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.auth import Form
from wasession.web.render import page
from wasession.web.timeline import Line

# What the session page says after a team form (its `notice` query parameter): (tone, words).
TEAM_NOTICES: dict[str, tuple[str, str]] = {
    "assigned": ("success", "Assigned."),
    "taken": ("success", "The chat is yours."),
    "unassigned": ("success", "Unassigned: the chat is nobody's."),
    "noted": ("success", "Private note added. The customer does not see it."),
    "note_empty": ("error", "Note not added: Private note may not be empty."),
    "note_long": ("error", f"Note not added: Private note must be at most {team_service.MAX_NOTE} characters."),
    "assign_unknown": ("error", "Not assigned: Assign to must be a user of this workspace."),
}
LABELS = {"name": "Name", "text": "Text"}


def session_values(
    runtime: Runtime, request: Request, login: LoginSession, s: SessionSummary, lines: list[Line]
) -> dict[str, Any]:
    """What the session page shows of the team: the timeline with the private notes in it, who the chat
    can be assigned to, and the canned replies filled in for this contact and this agent."""
    ctx = runtime.ctx
    notes = team_service.notes(ctx, s.id, workspace_id=login.workspace_id)
    merged = sorted(
        [*lines, *(Line(at=n.created_at, text=f"Private note · {n.author}", tone="note", note=n.text) for n in notes)],
        key=lambda line: line.at,
    )
    values = {"contact_name": s.contact_name, "wa_id": s.contact_wa_id or "", "agent_name": login.username}
    replies = canned_service.list_replies(ctx, workspace_id=login.workspace_id)
    return {
        "timeline": merged,
        "team_users": team_service.usernames(ctx, workspace_id=login.workspace_id),
        "canned": [(r.id, r.name, canned.fill(r.text, values)) for r in replies],
        "team_notice": TEAM_NOTICES.get(request.query_params.get("notice", "")),
    }


def _back(session_id: int, notice: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/dashboard/sessions/{session_id}?notice={notice}{anchor}", status_code=303)


router = APIRouter()


@router.post("/dashboard/sessions/{session_id}/assignee", include_in_schema=False)
def assign(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
    login = form.login
    take = form.get("take") == "yes"
    user = login.username if take else form.get("user").strip()
    if not user:
        team_service.unassign(runtime.ctx, session_id, workspace_id=login.workspace_id, by=login.username)
        return _back(session_id, "unassigned")
    try:
        team_service.assign(runtime.ctx, session_id, user, workspace_id=login.workspace_id, by=login.username)
    except ValidationError:
        return _back(session_id, "assign_unknown")
    return _back(session_id, "taken" if take else "assigned")


@router.post("/dashboard/sessions/{session_id}/notes", include_in_schema=False)
def add_note(runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
    try:
        team_service.add_note(
            runtime.ctx, session_id, form.get("text"), workspace_id=form.login.workspace_id, author=form.login.username
        )
    except ValidationError as exc:
        return _back(session_id, "note_long" if exc.code == "too_long" else "note_empty", "#notes")
    return _back(session_id, "noted", "#notes")


def _replies_page(
    runtime: Runtime,
    request: Request,
    login: LoginSession,
    *,
    status_code: int = 200,
    error: str | None = None,
    editing: int | None = None,
    draft: Mapping[str, str] | None = None,
    saved: str | None = None,
) -> Response:
    return page(
        runtime,
        request,
        "canned_replies.html",
        login,
        status_code=status_code,
        replies=canned_service.list_replies(runtime.ctx, workspace_id=login.workspace_id),
        fields=canned.MERGE_FIELDS,
        error=error,
        editing=editing,
        draft=draft or {},
        saved=saved,
    )


def _refused(exc: ValidationError | ConflictError) -> str:
    label = LABELS.get(exc.field or "", "")
    return f"{label}: {exc.message}" if label else exc.message


@router.get("/dashboard/canned-replies", include_in_schema=False)
def list_page(
    runtime: RuntimeDep, request: Request, login: Annotated[LoginSession, Depends(auth.login)], saved: str = ""
) -> Response:
    return _replies_page(
        runtime, request, login, saved={"added": "Added.", "saved": "Saved.", "deleted": "Deleted."}.get(saved)
    )


@router.post("/dashboard/canned-replies", include_in_schema=False)
def create(runtime: RuntimeDep, request: Request, form: Annotated[Form, Depends(auth.admin_form)]) -> Response:
    try:
        canned_service.create(runtime.ctx, form.get("name"), form.get("text"), workspace_id=form.login.workspace_id)
    except (ValidationError, ConflictError) as exc:
        code = 409 if isinstance(exc, ConflictError) else 422
        return _replies_page(runtime, request, form.login, status_code=code, error=_refused(exc), draft=form.values)
    return RedirectResponse("/dashboard/canned-replies?saved=added", status_code=303)


@router.post("/dashboard/canned-replies/{reply_id}", include_in_schema=False)
def edit(
    runtime: RuntimeDep, request: Request, reply_id: int, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    try:
        canned_service.update(
            runtime.ctx, reply_id, workspace_id=form.login.workspace_id, name=form.get("name"), text=form.get("text")
        )
    except (ValidationError, ConflictError) as exc:
        code = 409 if isinstance(exc, ConflictError) else 422
        return _replies_page(
            runtime, request, form.login, status_code=code, error=_refused(exc), editing=reply_id, draft=form.values
        )
    return RedirectResponse("/dashboard/canned-replies?saved=saved", status_code=303)


@router.post("/dashboard/canned-replies/{reply_id}/delete", include_in_schema=False)
def delete(runtime: RuntimeDep, reply_id: int, form: Annotated[Form, Depends(auth.admin_form)]) -> Response:
    canned_service.delete(runtime.ctx, reply_id, workspace_id=form.login.workspace_id)
    return RedirectResponse("/dashboard/canned-replies?saved=deleted", status_code=303)

"""The dashboard's Chatwoot page (issue 22): the workspace's connections with their calls and last
error, connect, pause/resume and remove. Admin only; every action goes through services/chatwoot like
the API and the CLI."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import chatwoot
from wasession.services.errors import ConflictError, ValidationError
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.auth import Form
from wasession.web.render import page

_PAST = {"remove": "removed", "pause": "paused", "resume": "resumed"}
_DONE = {"connected", *_PAST.values()}


router = APIRouter()


def chatwoot_page(
    request: Request,
    runtime: Runtime,
    login: LoginSession,
    *,
    error: ValidationError | ConflictError | None = None,
    values: dict[str, str] | None = None,
    done: str = "",
    only: int | None = None,
) -> Response:
    ctx = runtime.ctx
    ctx = runtime.ctx
    if only is not None:
        connections = [chatwoot.get_connection(ctx, only, workspace_id=login.workspace_id)]
    else:
        connections = chatwoot.list_connections(ctx, workspace_id=login.workspace_id)
    status = {c.id: chatwoot.connection_status(ctx, c.id, workspace_id=login.workspace_id) for c in connections}
    return page(
        runtime,
        request,
        "chatwoot.html",
        login,
        status_code=422 if error else 200,
        connections=connections,
        status=status,
        relay={c.id: chatwoot.relay_target_of(c) for c in connections},
        cw_error=error,
        cw_values=values or {},
        done=done,
        only=only,
    )


@router.get("/dashboard/chatwoot", include_in_schema=False)
def show_all(
    request: Request, runtime: RuntimeDep, login: Annotated[LoginSession, Depends(auth.admin)], done: str = ""
) -> Response:
    return chatwoot_page(request, runtime, login, done=done if done in _DONE else "")


@router.get("/dashboard/chatwoot/{connection_id}", include_in_schema=False)
def show_one(
    request: Request, runtime: RuntimeDep, connection_id: int, login: Annotated[LoginSession, Depends(auth.admin)]
) -> Response:
    return chatwoot_page(request, runtime, login, only=connection_id)


@router.post("/dashboard/chatwoot", include_in_schema=False)
def connect(request: Request, runtime: RuntimeDep, form: Annotated[Form, Depends(auth.admin_form)]) -> Response:
    values = {k: form.get(k) for k in ("channel_id", "url", "account_id", "inbox_id", "send_via")}
    try:
        numbers = {k: _number(k, form.get(k)) for k in ("channel_id", "account_id", "inbox_id")}
        chatwoot.connect(
            runtime.ctx,
            numbers["channel_id"],
            workspace_id=form.login.workspace_id,
            url=form.get("url"),
            account_id=numbers["account_id"],
            inbox_id=numbers["inbox_id"],
            api_token=form.get("api_token"),
            webhook_secret=form.get("webhook_secret") or None,
            send_via=form.get("send_via") or "chatwoot",
            policy=runtime.relay.policy,
        )
    except (ValidationError, ConflictError) as exc:
        return chatwoot_page(request, runtime, form.login, error=exc, values=values)
    return RedirectResponse("/dashboard/chatwoot?done=connected", status_code=303)


@router.post("/dashboard/chatwoot/{connection_id}/{action}", include_in_schema=False)
def act(
    runtime: RuntimeDep, connection_id: int, action: str, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    ws = form.login.workspace_id
    if action == "remove":
        chatwoot.remove(runtime.ctx, connection_id, workspace_id=ws)
    elif action in ("pause", "resume"):
        chatwoot.set_paused(runtime.ctx, connection_id, workspace_id=ws, paused=action == "pause")
        runtime.wake()
    else:
        return Response(status_code=404)
    return RedirectResponse(f"/dashboard/chatwoot?done={_PAST[action]}", status_code=303)


def _number(name: str, value: str) -> int:
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise ValidationError(name, f"{name} must be a whole number of 1 or more; it was {value!r}")
    return int(value)

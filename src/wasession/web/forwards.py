"""The "Forwarding" panel of a channel (issue 16): its relay targets, add/remove, pause/resume, and the
latest delivery attempts. The panel is a partial shown on the settings page and on a page of its own,
where its forms land; every action goes through services/forwards like the API and the CLI."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context

from wasession.domain.relay import FIELDS
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep, scope_runtime
from wasession.services import channels as channel_service
from wasession.services import forwards as forward_service
from wasession.services.errors import ValidationError
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.auth import Form
from wasession.web.render import TEMPLATES, page

RECENT = 5  # delivery attempts shown per target


def panel(runtime: Runtime, channel_id: int, workspace_id: int) -> dict[str, Any]:
    """What _forwards.html shows: each target with its latest attempts."""
    targets = forward_service.list_forwards(runtime.ctx, channel_id, workspace_id=workspace_id)
    recent = {
        t.id: forward_service.deliveries(runtime.ctx, channel_id, t.id, workspace_id=workspace_id, limit=RECENT)[0]
        for t in targets
    }
    return {"targets": targets, "recent": recent, "fields": FIELDS}


router = APIRouter()


@pass_context
def _forwarding_panel(context: Context, channel_id: int, workspace_id: int) -> dict[str, object]:
    return panel(scope_runtime(context["request"].scope), channel_id, workspace_id)


# The settings page includes the panel without its own view knowing about it; the template's request
# names the runtime (one template environment serves every runtime in the process).
TEMPLATES.env.globals["forwarding_panel"] = _forwarding_panel


def forwards_page(
    request: Request,
    runtime: Runtime,
    login: LoginSession,
    channel_id: int,
    error: ValidationError | None = None,
    values: dict[str, str] | None = None,
    done: str = "",
) -> Response:
    channel = channel_service.get_channel(runtime.ctx, channel_id, workspace_id=login.workspace_id)
    return page(
        runtime,
        request,
        "forwards.html",
        login,
        status_code=422 if error else 200,
        channel=channel,
        forwarding=panel(runtime, channel.id, login.workspace_id),
        forward_error=error,
        forward_values=values or {},
        done=done,
    )


def back(channel_id: int, done: str) -> Response:
    return RedirectResponse(f"/dashboard/channels/{channel_id}/forwards?done={done}", status_code=303)


@router.get("/dashboard/channels/{channel_id}/forwards", include_in_schema=False)
def show(
    request: Request,
    runtime: RuntimeDep,
    channel_id: int,
    login: Annotated[LoginSession, Depends(auth.admin)],
    done: str = "",
) -> Response:
    return forwards_page(request, runtime, login, channel_id, done=done if done in _DONE else "")


@router.post("/dashboard/channels/{channel_id}/forwards", include_in_schema=False)
def add(
    request: Request, runtime: RuntimeDep, channel_id: int, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    chosen = [f for f in FIELDS if form.get(f"field_{f}") == "on"]
    try:
        forward_service.create_forward(
            runtime.ctx,
            channel_id,
            workspace_id=form.login.workspace_id,
            url=form.get("url"),
            secret=form.get("secret") or None,
            fields=chosen or None,
            description=form.get("description"),
            policy=runtime.relay.policy,
            max_per_workspace=runtime.settings.max_forwards_per_workspace,
        )
    except ValidationError as exc:
        values = {"url": form.get("url"), "description": form.get("description")}
        return forwards_page(request, runtime, form.login, channel_id, exc, values)
    return back(channel_id, "added")


@router.post("/dashboard/channels/{channel_id}/forwards/{forward_id}/{action}", include_in_schema=False)
def act(
    runtime: RuntimeDep, channel_id: int, forward_id: int, action: str, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    ws = form.login.workspace_id
    if action == "remove":
        forward_service.delete_forward(runtime.ctx, channel_id, forward_id, workspace_id=ws)
    elif action in ("pause", "resume"):
        forward_service.set_paused(runtime.ctx, channel_id, forward_id, workspace_id=ws, paused=action == "pause")
        runtime.wake()
    else:
        return Response(status_code=404)
    return back(channel_id, _PAST[action])


_PAST = {"remove": "removed", "pause": "paused", "resume": "resumed"}
_DONE = {"added", *_PAST.values()}

"""Active chats (live countdowns, eligibility, who is awaited) and the session page (transcript,
timeline, reply inside the window, template outside it, close)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wasession.domain.errors import ValidationError
from wasession.runtime import Runtime
from wasession.services import agents, queries
from wasession.services.errors import ConflictError, WindowClosedError
from wasession.services.users import LoginSession
from wasession.web.auth import Auth, Form
from wasession.web.render import page

PAGE_SIZE = 100
CLOSING_SOON = timedelta(hours=1)
TEMPLATE_LANGUAGES = ("en", "en_US", "en_GB", "es", "pt_BR", "fr", "de", "it")


def _session_url(session_id: int, notice: str | None = None) -> str:
    return f"/dashboard/sessions/{session_id}" + (f"?notice={notice}" if notice else "")


NOTICES = {
    "sent": "Reply queued; it goes out within a second.",
    "template": "Template queued.",
    "closed": "Session closed.",
    "snoozed": "Snoozed: no reminder and no automatic closure until then.",
    "not_snoozed": "Not snoozed: only an active session can be snoozed, for up to 30 days.",
    "woke": "Awake: the timeout counts again from now.",
}


def routes(runtime: Runtime, auth: Auth) -> APIRouter:
    r = APIRouter()
    ctx = runtime.ctx

    @r.get("/dashboard/chats", include_in_schema=False)
    def active_chats(
        request: Request,
        login: Annotated[LoginSession, Depends(auth.login)],
        channel: int | None = None,
        cursor: str | None = None,
    ) -> Response:
        result = queries.list_sessions(
            ctx,
            workspace_id=login.workspace_id,
            status="active",
            channel_id=channel,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
        return page(
            runtime,
            request,
            "chats.html",
            login,
            sessions=result.items,
            next_cursor=result.next_cursor,
            channel_filter=channel,
            closing_soon=CLOSING_SOON,
        )

    def session_page(
        request: Request,
        login: LoginSession,
        session_id: int,
        *,
        error: str | None = None,
        draft: str = "",
        status_code: int = 200,
        notice: str | None = None,
    ) -> Response:
        detail = queries.session_detail(ctx, session_id, workspace_id=login.workspace_id)
        return page(
            runtime,
            request,
            "session.html",
            login,
            status_code=status_code,
            s=detail.summary,
            transcript=detail.transcript,
            timeline=detail.timeline,
            error=error,
            draft=draft,
            notice=NOTICES.get(notice or ""),
            languages=TEMPLATE_LANGUAGES,
        )

    @r.get("/dashboard/sessions/{session_id}", include_in_schema=False)
    def show(
        request: Request,
        session_id: int,
        login: Annotated[LoginSession, Depends(auth.login)],
        notice: str | None = None,
    ) -> Response:
        return session_page(request, login, session_id, notice=notice)

    @r.post("/dashboard/sessions/{session_id}/reply", include_in_schema=False)
    def reply(request: Request, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        body = form.get("body")
        try:
            agents.send_text(ctx, session_id, body, workspace_id=form.login.workspace_id)
        except WindowClosedError as exc:
            message = f"Not sent: the 24-hour customer service window closed at {exc.closed_at:%a %d %b %H:%M UTC}."
            return session_page(request, form.login, session_id, error=message, draft=body, status_code=409)
        except ValidationError as exc:
            return session_page(request, form.login, session_id, error=exc.message, draft=body, status_code=422)
        return RedirectResponse(_session_url(session_id, "sent"), status_code=303)

    @r.post("/dashboard/sessions/{session_id}/template", include_in_schema=False)
    def template(request: Request, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        parameters = [line.strip() for line in form.get("parameters").splitlines() if line.strip()]
        try:
            agents.send_template(
                ctx,
                session_id,
                form.get("name").strip(),
                form.get("language").strip(),
                parameters,
                workspace_id=form.login.workspace_id,
            )
        except ValidationError as exc:
            return session_page(request, form.login, session_id, error=exc.message, status_code=422)
        return RedirectResponse(_session_url(session_id, "template"), status_code=303)

    @r.post("/dashboard/sessions/{session_id}/close", include_in_schema=False)
    def close(request: Request, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        try:
            agents.close_session(ctx, session_id, workspace_id=form.login.workspace_id)
        except ConflictError as exc:
            return session_page(request, form.login, session_id, error=exc.message, status_code=409)
        return RedirectResponse(_session_url(session_id, "closed"), status_code=303)

    return r

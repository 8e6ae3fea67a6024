"""Active chats (live countdowns, eligibility, who is awaited) and the session page (transcript,
timeline, reply inside the window, template outside it, close)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wasession.domain.errors import ValidationError
from wasession.runtime import Runtime
from wasession.services import agents, queries
from wasession.services import resend as resend_service
from wasession.services import templates as templates_service
from wasession.services.errors import ConflictError, UpstreamError, WindowClosedError
from wasession.services.users import LoginSession
from wasession.web import template_picker as picker
from wasession.web import timeline as reading
from wasession.web.auth import Auth, Form
from wasession.web.render import page, workspace_channels

PAGE_SIZE = 100
CLOSING_SOON = timedelta(hours=1)
TEMPLATE_LANGUAGES = ("en", "en_US", "en_GB", "es", "pt_BR", "fr", "de", "it")


def _session_url(session_id: int, notice: str | None = None) -> str:
    return f"/dashboard/sessions/{session_id}" + (f"?notice={notice}" if notice else "")


NOTICES = {
    "sent": "Reply queued.",
    "resent": "Message queued again.",
    "template": "Template queued.",
    "templates": "Templates fetched from Meta.",
    "closed": "Session closed.",
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
        template_draft: picker.TemplateDraft | None = None,
    ) -> Response:
        detail = queries.session_detail(ctx, session_id, workspace_id=login.workspace_id)
        zone = reading.zone_of(_channel_zone(runtime, login.workspace_id, detail.summary.channel_id))
        resent = resend_service.resent_ids(detail.timeline)
        return page(
            runtime,
            request,
            "session.html",
            login,
            status_code=status_code,
            s=detail.summary,
            transcript=reading.bubbles(detail.transcript, resent, zone),
            timeline=reading.lines(detail.timeline, zone),
            zone=zone,
            local=reading.local_time,
            error=error,
            draft=draft,
            notice=NOTICES.get(notice or ""),
            languages=TEMPLATE_LANGUAGES,
            catalog=templates_service.catalog(ctx, detail.summary.channel_id, workspace_id=login.workspace_id),
            template_draft=template_draft or picker.TemplateDraft(),
            notice_key=notice or "",
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
        chosen = picker.draft_from(form)
        try:
            templates_service.send(
                ctx,
                session_id,
                chosen.name,
                chosen.language,
                chosen.parameters,
                workspace_id=form.login.workspace_id,
            )
        except ValidationError as exc:
            return session_page(
                request, form.login, session_id, error=exc.message, status_code=422, template_draft=chosen
            )
        return RedirectResponse(_session_url(session_id, "template"), status_code=303)

    @r.post("/dashboard/sessions/{session_id}/templates/refresh", include_in_schema=False)
    def refresh_templates(request: Request, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        summary = queries.session_summary(ctx, session_id, workspace_id=form.login.workspace_id)
        waba_id = form.get("waba_id").strip() or None
        try:
            templates_service.refresh(
                ctx, runtime.client_for, summary.channel_id, waba_id=waba_id, workspace_id=form.login.workspace_id
            )
        except (ValidationError, UpstreamError) as exc:
            return session_page(request, form.login, session_id, error=exc.message, status_code=422)
        return RedirectResponse(_session_url(session_id, "templates"), status_code=303)

    @r.post("/dashboard/messages/{message_id}/resend", include_in_schema=False)
    def resend(request: Request, message_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        given = form.get("session_id")
        session_id = int(given) if given.isdigit() else 0  # only where to go back to; the page checks access
        try:
            resend_service.resend(
                ctx, message_id, workspace_id=form.login.workspace_id, maybe_sent=form.get("maybe_sent") == "yes"
            )
        except WindowClosedError as exc:
            message = f"Not resent: the 24-hour customer service window closed at {exc.closed_at:%a %d %b %H:%M UTC}."
            return session_page(request, form.login, session_id, error=message, status_code=409)
        except ConflictError as exc:
            return session_page(request, form.login, session_id, error=exc.message, status_code=409)
        return RedirectResponse(_session_url(session_id, "resent"), status_code=303)

    @r.post("/dashboard/sessions/{session_id}/close", include_in_schema=False)
    def close(request: Request, session_id: int, form: Annotated[Form, Depends(auth.form)]) -> Response:
        try:
            agents.close_session(ctx, session_id, workspace_id=form.login.workspace_id)
        except ConflictError as exc:
            return session_page(request, form.login, session_id, error=exc.message, status_code=409)
        return RedirectResponse(_session_url(session_id, "closed"), status_code=303)

    return r


def _channel_zone(runtime: Runtime, workspace_id: int, channel_id: int) -> str | None:
    channel = next((c for c in workspace_channels(runtime, workspace_id) if c.id == channel_id), None)
    return channel.policy.timezone if channel is not None else None

"""The chat list as a work queue (search, filters, urgent-first sort, pages both ways, active and
closed views) and the session page (transcript, timeline, reply inside the window, template outside
it, close after a confirmation, reopen, the contact's other sessions)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wasession.domain.errors import ValidationError
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import agents
from wasession.services import queries as query_service
from wasession.services import resend as resend_service
from wasession.services import templates as template_service
from wasession.services import usage as usage_service
from wasession.services.errors import ConflictError, UpstreamError, WindowClosedError
from wasession.services.users import LoginSession
from wasession.web import auth, team, template_picker, timeline
from wasession.web.auth import AdminOnly, Form
from wasession.web.render import page, short_in, zone_in

PAGE_SIZE = 50
HISTORY_SIZE = 20
CLOSING_SOON = timedelta(hours=1)
TEMPLATE_LANGUAGES = ("en", "en_US", "en_GB", "es", "pt_BR", "fr", "de", "it")
VIEWS = {"active": "Active chats", "closed": "Closed chats"}
SORTS = {"window": "Window closing soonest", "last_message": "Last message", "closure": "Closure soonest"}
CLOSED_SORTS = {"last_message": "Last message", "last_customer": "Last customer message"}
# Each filter: its query-string name, the choices offered, and what each choice asks the list for.
# A new one (snoozed, held) is one more entry here and a keyword of queries.list_sessions.
FILTERS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "awaiting": {
        "agent": ("Awaiting agent", {"awaiting": "agent"}),
        "customer": ("Awaiting customer", {"awaiting": "customer"}),
    },
    "state": {
        "eligible": ("Past the timeout (eligible)", {"eligible": True}),
        "window_open": ("Window open", {"window_open": True}),
        "window_closed": ("Window closed", {"window_open": False}),
        "snoozed": ("Snoozed", {"snoozed": True}),
    },
    # Issue 23: a team's views; ME stands for the user looking at the list.
    "assigned": {
        "mine": ("Mine", {"assignee": "ME"}),
        "none": ("Unassigned", {"unassigned": True}),
    },
    "closing": {
        "1h": ("Window closes within 1 h", {"closing_within": timedelta(hours=1)}),
        "4h": ("Window closes within 4 h", {"closing_within": timedelta(hours=4)}),
    },
}


@dataclass(frozen=True)
class ListQuery:
    """What the chat list's query string asks for, checked: unknown choices fall back to "any"."""

    view: str
    sort: str
    search: str
    channel: int | None
    chosen: Mapping[str, str]
    cursor: str | None

    @staticmethod
    def read(params: Mapping[str, str]) -> "ListQuery":
        view = params.get("view", "active")
        view = view if view in VIEWS else "active"
        sorts = SORTS if view == "active" else CLOSED_SORTS
        sort = params.get("sort", "")
        sort = sort if sort in sorts else next(iter(sorts))
        channel = params.get("channel", "")
        chosen = {name: params[name] for name, choices in FILTERS.items() if params.get(name) in choices}
        return ListQuery(
            view,
            sort,
            params.get("q", "").strip()[: query_service.MAX_SEARCH],
            int(channel) if channel.isdigit() else None,
            chosen,
            params.get("cursor") or None,
        )

    def filters(self, me: str) -> dict[str, Any]:
        asked: dict[str, Any] = {}
        for name, choice in self.chosen.items():
            asked.update(FILTERS[name][choice][1])
        if asked.get("assignee") == "ME":
            asked["assignee"] = me
        return asked

    def link(self, **changes: str | None) -> str:
        """This list's URL with some parameters changed (None drops one); a new search starts at page 1."""
        values: dict[str, str | None] = {
            "view": self.view if self.view != "active" else None,
            "q": self.search or None,
            "channel": str(self.channel) if self.channel else None,
            "sort": self.sort,
            **dict(self.chosen),
        }
        values.update(changes)
        return "/dashboard/chats?" + urlencode({k: v for k, v in values.items() if v})


def _session_url(session_id: int, notice: str | None = None) -> str:
    return f"/dashboard/sessions/{session_id}" + (f"?notice={notice}" if notice else "")


NOTICES = {
    "sent": "Reply queued.",
    "resent": "Message queued again.",
    "template": "Template queued.",
    "templates": "Templates fetched from Meta.",
    "closed": "Session closed.",
    "reopened": "Session reopened.",
    "snoozed": "Snoozed: no reminder and no automatic closure until then.",
    "not_snoozed": "Not snoozed: only an active session can be snoozed, for up to 30 days.",
    "woke": "Awake: the timeout counts again from now.",
}


router = APIRouter()


@router.get("/dashboard/chats", include_in_schema=False)
def chat_list(request: Request, runtime: RuntimeDep, login: Annotated[LoginSession, Depends(auth.login)]) -> Response:
    ctx = runtime.ctx
    asked = ListQuery.read(request.query_params)
    try:
        result = query_service.list_sessions(
            ctx,
            workspace_id=login.workspace_id,
            status=asked.view,
            channel_id=asked.channel,
            search=asked.search or None,
            sort=asked.sort,
            limit=PAGE_SIZE,
            cursor=asked.cursor,
            **asked.filters(login.username),
        )
        error = None
    except ValidationError as exc:  # a stale cursor (another sort): start again from the top
        result = query_service.list_sessions(
            ctx, workspace_id=login.workspace_id, status=asked.view, sort=asked.sort, limit=PAGE_SIZE
        )
        error = exc.message
    return page(
        runtime,
        request,
        "chats.html",
        login,
        result=result,
        sessions=result.items,
        unread=query_service.unread(ctx, login.user_id, result.items),
        asked=asked,
        views=VIEWS,
        sorts=SORTS if asked.view == "active" else CLOSED_SORTS,
        filters=FILTERS,
        error=error,
        closing_soon=CLOSING_SOON,
    )


def session_page(
    request: Request,
    runtime: Runtime,
    login: LoginSession,
    session_id: int,
    *,
    error: str | None = None,
    draft: str = "",
    status_code: int = 200,
    notice: str | None = None,
    template: str = "session.html",
    template_draft: template_picker.TemplateDraft | None = None,
) -> Response:
    ctx = runtime.ctx
    detail = query_service.session_detail(ctx, session_id, workspace_id=login.workspace_id)
    history = query_service.list_sessions(
        ctx,
        workspace_id=login.workspace_id,
        contact_id=detail.summary.contact_id,
        sort="last_customer",
        limit=HISTORY_SIZE,
    )
    zone = zone_in(runtime, request, login, detail.summary.channel_id)
    resent = resend_service.resent_ids(detail.timeline)
    lines = timeline.lines(detail.timeline, zone)
    return page(
        runtime,
        request,
        template,
        login,
        status_code=status_code,
        s=detail.summary,
        transcript=timeline.bubbles(detail.transcript, resent, zone),
        history=[h for h in history.items if h.id != session_id],
        local=timeline.local_time,
        error=error,
        draft=draft,
        notice=NOTICES.get(notice or ""),
        languages=TEMPLATE_LANGUAGES,
        meta=usage_service.session_meta_window(ctx, session_id),
        session_channel=detail.summary.channel_id,
        catalog=template_service.catalog(ctx, detail.summary.channel_id, workspace_id=login.workspace_id),
        template_draft=template_draft or template_picker.TemplateDraft(),
        notice_key=notice or "",
        **team.session_values(runtime, request, login, detail.summary, lines),
    )


@router.get("/dashboard/sessions/{session_id}", include_in_schema=False)
def show(
    request: Request,
    runtime: RuntimeDep,
    session_id: int,
    login: Annotated[LoginSession, Depends(auth.login)],
    notice: str | None = None,
) -> Response:
    ctx = runtime.ctx
    query_service.mark_read(ctx, login.user_id, session_id, workspace_id=login.workspace_id)
    return session_page(request, runtime, login, session_id, notice=notice)


@router.post("/dashboard/sessions/{session_id}/reply", include_in_schema=False)
def reply(
    request: Request, runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    body = form.get("body")
    try:
        agents.send_text(ctx, session_id, body, workspace_id=form.login.workspace_id, author=form.login.username)
    except WindowClosedError as exc:
        summary = query_service.session_summary(ctx, session_id, workspace_id=form.login.workspace_id)
        when = short_in(runtime, request, form.login, exc.closed_at, summary.channel_id)
        message = f"Not sent: the 24-hour customer service window closed at {when}."
        return session_page(request, runtime, form.login, session_id, error=message, draft=body, status_code=409)
    except (ValidationError, ConflictError) as exc:
        code = 409 if isinstance(exc, ConflictError) else 422
        return session_page(request, runtime, form.login, session_id, error=exc.message, draft=body, status_code=code)
    return RedirectResponse(_session_url(session_id, "sent"), status_code=303)


@router.post("/dashboard/sessions/{session_id}/template", include_in_schema=False)
def template(
    request: Request, runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    chosen = template_picker.draft_from(form)
    try:
        template_service.send(
            ctx,
            session_id,
            chosen.name,
            chosen.language,
            chosen.parameters,
            workspace_id=form.login.workspace_id,
        )
    except ValidationError as exc:
        return session_page(
            request, runtime, form.login, session_id, error=exc.message, status_code=422, template_draft=chosen
        )
    return RedirectResponse(_session_url(session_id, "template"), status_code=303)


@router.get("/dashboard/sessions/{session_id}/close", include_in_schema=False)
def confirm_close(
    request: Request, runtime: RuntimeDep, session_id: int, login: Annotated[LoginSession, Depends(auth.login)]
) -> Response:
    return session_page(request, runtime, login, session_id, template="close_confirm.html")


@router.post("/dashboard/sessions/{session_id}/templates/refresh", include_in_schema=False)
def refresh_templates(
    request: Request, runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    summary = query_service.session_summary(ctx, session_id, workspace_id=form.login.workspace_id)
    waba_id = form.get("waba_id").strip() or None
    if waba_id is not None and not form.login.is_admin:
        # The channel's account is an admin's setting: an agent may fetch the templates again, with
        # the account as it is (the form sends it back unchanged), never point it elsewhere (issue 25).
        current = template_service.catalog(ctx, summary.channel_id, workspace_id=form.login.workspace_id)
        if waba_id != current.waba_id:
            raise AdminOnly
        waba_id = None
    try:
        template_service.refresh(
            ctx, runtime.client_for, summary.channel_id, waba_id=waba_id, workspace_id=form.login.workspace_id
        )
    except (ValidationError, UpstreamError) as exc:
        return session_page(request, runtime, form.login, session_id, error=exc.message, status_code=422)
    return RedirectResponse(_session_url(session_id, "templates"), status_code=303)


@router.post("/dashboard/messages/{message_id}/resend", include_in_schema=False)
def resend(
    request: Request, runtime: RuntimeDep, message_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    given = form.get("session_id")
    session_id = int(given) if given.isdigit() else 0  # only where to go back to; the page checks access
    try:
        resend_service.resend(
            ctx, message_id, workspace_id=form.login.workspace_id, maybe_sent=form.get("maybe_sent") == "yes"
        )
    except WindowClosedError as exc:
        message = f"Not resent: the 24-hour customer service window closed at {exc.closed_at:%a %d %b %H:%M UTC}."
        return session_page(request, runtime, form.login, session_id, error=message, status_code=409)
    except ConflictError as exc:
        return session_page(request, runtime, form.login, session_id, error=exc.message, status_code=409)
    return RedirectResponse(_session_url(session_id, "resent"), status_code=303)


@router.post("/dashboard/sessions/{session_id}/close", include_in_schema=False)
def close(
    request: Request, runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    if form.get("confirm") != "yes":  # the confirmation step is the server's, not only a script's
        return session_page(request, runtime, form.login, session_id, template="close_confirm.html")
    try:
        agents.close_session(ctx, session_id, workspace_id=form.login.workspace_id)
    except ConflictError as exc:
        return session_page(request, runtime, form.login, session_id, error=exc.message, status_code=409)
    return RedirectResponse(_session_url(session_id, "closed"), status_code=303)


@router.post("/dashboard/sessions/{session_id}/reopen", include_in_schema=False)
def reopen(
    request: Request, runtime: RuntimeDep, session_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    ctx = runtime.ctx
    try:
        agents.reopen(ctx, session_id, workspace_id=form.login.workspace_id)
    except ConflictError as exc:
        return session_page(request, runtime, form.login, session_id, error=exc.message, status_code=409)
    return RedirectResponse(_session_url(session_id, "reopened"), status_code=303)

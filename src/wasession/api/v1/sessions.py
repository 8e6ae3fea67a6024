"""Sessions: list with filters and cursor pagination, detail, manual close, agent messages (R13)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Query

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import (
    EventOut,
    FreeWindowOut,
    MessageOut,
    MessageQueued,
    PathId,
    QueryId,
    ReferralOut,
    SessionDetailOut,
    SessionOut,
    SessionPageOut,
    SnoozeIn,
    TemplateIn,
    TextIn,
    errors,
    from_record,
)
from wasession.domain.durations import parse_duration
from wasession.runtime_scope import RuntimeDep
from wasession.services import agents
from wasession.services import queries as query_service
from wasession.services import snooze as snooze_service
from wasession.services import templates as template_service
from wasession.services import usage as usage_service
from wasession.services.errors import ValidationError
from wasession.services.queries import SessionSummary


def session_out(s: SessionSummary) -> SessionOut:
    return SessionOut(**asdict(s))


router = APIRouter(tags=["sessions"])


def own_session(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> int:
    """The workspace, once the session is one of its own: FastAPI solves this before it validates the
    body, so another workspace's session answers 404 before anything about the body is said (a 422
    naming a template parameter told another tenant its templates, issue 25)."""
    ctx = runtime.ctx
    query_service.session_summary(ctx, session_id, workspace_id=ws)
    return ws


@router.get("/sessions", response_model=SessionPageOut, responses=errors())
def list_sessions(
    runtime: RuntimeDep,
    ws: int = Depends(workspace),
    status: str | None = Query(None, description="active or closed"),
    eligible: bool | None = Query(None, description="past the timeout, waiting for the closure tick"),
    window_open: bool | None = Query(None, description="inside the 24-hour customer service window"),
    awaiting: str | None = Query(None, description="who is expected to write next: agent or customer"),
    channel_id: QueryId = None,
    contact_id: QueryId = None,
    closing_within: str | None = Query(None, description="window closes within, e.g. 1h or PT30M"),
    search: str | None = Query(None, description="part of the contact's name, WhatsApp id or phone"),
    sort: str = Query(
        "last_customer",
        description="last_customer (newest first), window (open windows closing soonest first), "
        "last_message (newest first) or closure (closure tick soonest first)",
    ),
    limit: int = Query(50, description="1 to 200"),
    cursor: str | None = Query(None, description="next_cursor or prev_cursor of a page", max_length=500),
    wa_id: str | None = Query(None, description="the contact's WhatsApp number, e.g. 15551234567", max_length=40),
    snoozed: bool | None = Query(None, description="snoozed now (an agent's snooze that has not ended)"),
    assignee: str | None = Query(None, description="assigned to this dashboard user (a username)", max_length=200),
    unassigned: bool | None = Query(None, description="assigned to nobody (false: to someone)"),
) -> SessionPageOut:
    ctx = runtime.ctx
    within: timedelta | None = None
    if closing_within is not None:
        try:
            within = parse_duration(closing_within, field="closing_within")
        except ValueError as exc:
            raise ValidationError("closing_within", str(exc)) from exc
    page = query_service.list_sessions(
        ctx,
        workspace_id=ws,
        status=status,
        eligible=eligible,
        window_open=window_open,
        awaiting=awaiting,
        channel_id=channel_id,
        contact_id=contact_id,
        closing_within=within,
        search=search,
        sort=sort,
        limit=limit,
        cursor=cursor,
        wa_id=wa_id,
        snoozed=snoozed,
        assignee=assignee,
        unassigned=unassigned,
    )
    return SessionPageOut(
        items=[session_out(s) for s in page.items],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        total=page.total,
        start=page.start,
    )


@router.get("/sessions/{session_id}", response_model=SessionDetailOut, responses=errors(404))
def get_session(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> SessionDetailOut:
    ctx = runtime.ctx
    detail = query_service.session_detail(ctx, session_id, workspace_id=ws)
    meta = usage_service.session_meta_window(ctx, session_id)
    free, referral = meta.free_window, meta.referral
    return SessionDetailOut(
        free_window=FreeWindowOut(
            conversation_id=free.conversation_id,
            origin_type=free.origin_type,
            pricing_type=free.pricing_type,
            expires_at=free.expires_at,
            open=None if free.expires_at is None else ctx.clock.now() < free.expires_at,
        )
        if free
        else None,
        referral=ReferralOut(wamid=referral.wamid, received_at=referral.received_at, referral=dict(referral.referral))
        if referral
        else None,
        session=session_out(detail.summary),
        transcript=[from_record(MessageOut, m) for m in detail.transcript],
        timeline=[
            EventOut(id=e.id, type=e.type, at=e.at, channel_id=e.channel_id, session_id=e.session_id, data=dict(e.data))
            for e in detail.timeline
        ],
    )


@router.post(
    "/sessions/{session_id}/close",
    response_model=SessionOut,
    responses=errors(404, 409),
    summary="Close a session by hand (reason agent)",
)
def close_session(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> SessionOut:
    ctx = runtime.ctx
    agents.close_session(ctx, session_id, workspace_id=ws)
    return session_out(query_service.session_summary(ctx, session_id, workspace_id=ws))


@router.post(
    "/sessions/{session_id}/reopen",
    response_model=SessionOut,
    responses=errors(404, 409),
    summary="Reopen a closed session by hand (event session_reopened, by agent)",
)
def reopen_session(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> SessionOut:
    ctx = runtime.ctx
    agents.reopen(ctx, session_id, workspace_id=ws)
    return session_out(query_service.session_summary(ctx, session_id, workspace_id=ws))


@router.post(
    "/sessions/{session_id}/messages",
    status_code=202,
    response_model=MessageQueued,
    responses=errors(404, 409),
    summary="Send a free-form text; 409 window_closed (closed_at = when the window closed) outside the "
    "24-hour window (R13); reopens a closed session whose window is still open",
)
def send_text(runtime: RuntimeDep, session_id: PathId, body: TextIn, ws: int = Depends(own_session)) -> MessageQueued:
    ctx = runtime.ctx
    message_id = agents.send_text(ctx, session_id, body.body, workspace_id=ws)
    return MessageQueued(message_id=message_id, status="pending")


@router.post(
    "/sessions/{session_id}/templates",
    status_code=202,
    response_model=MessageQueued,
    responses=errors(404),
    summary="Send an approved template message (allowed outside the window)",
)
def send_template(
    runtime: RuntimeDep, session_id: PathId, body: TemplateIn, ws: int = Depends(own_session)
) -> MessageQueued:
    ctx = runtime.ctx
    message_id = template_service.send(ctx, session_id, body.name, body.language, body.parameters, workspace_id=ws)
    return MessageQueued(message_id=message_id, status="pending")


@router.post(
    "/sessions/{session_id}/snooze",
    response_model=SessionOut,
    responses=errors(404, 409),
    summary="Snooze until a time: no reminder and no automatic closure before then (issue 13)",
)
def snooze_session(
    runtime: RuntimeDep, session_id: PathId, body: SnoozeIn, ws: int = Depends(own_session)
) -> SessionOut:
    ctx = runtime.ctx
    snooze_service.snooze(ctx, session_id, body.until, workspace_id=ws)
    return session_out(query_service.session_summary(ctx, session_id, workspace_id=ws))


@router.delete(
    "/sessions/{session_id}/snooze",
    response_model=SessionOut,
    responses=errors(404),
    summary="Wake a snoozed session now; the timeout counts again from now",
)
def wake_session(runtime: RuntimeDep, session_id: PathId, ws: int = Depends(workspace)) -> SessionOut:
    ctx = runtime.ctx
    snooze_service.wake(ctx, session_id, workspace_id=ws)
    return session_out(query_service.session_summary(ctx, session_id, workspace_id=ws))

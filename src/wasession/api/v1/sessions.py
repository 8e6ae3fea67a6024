"""Sessions: list with filters and cursor pagination, detail, manual close, agent messages (R13)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Query

from wasession.api.v1.auth import workspace_dependency
from wasession.api.v1.schemas import (
    EventOut,
    MessageOut,
    MessageQueued,
    PathId,
    QueryId,
    SessionDetailOut,
    SessionOut,
    SessionPageOut,
    SnoozeIn,
    TemplateIn,
    TextIn,
    errors,
)
from wasession.domain.durations import parse_duration
from wasession.runtime import Runtime
from wasession.services import agents, queries, snooze
from wasession.services.errors import ValidationError
from wasession.services.queries import SessionSummary


def session_out(s: SessionSummary) -> SessionOut:
    return SessionOut(**asdict(s))


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["sessions"])
    ctx = runtime.ctx
    workspace = workspace_dependency(runtime)

    @r.get("/sessions", response_model=SessionPageOut, responses=errors())
    def list_sessions(
        ws: int = Depends(workspace),
        status: str | None = Query(None, description="active or closed"),
        eligible: bool | None = Query(None, description="past the timeout, waiting for the closure tick"),
        window_open: bool | None = Query(None, description="inside the 24-hour customer service window"),
        awaiting: str | None = Query(None, description="who is expected to write next: agent or customer"),
        channel_id: QueryId = None,
        contact_id: QueryId = None,
        closing_within: str | None = Query(None, description="window closes within, e.g. 1h or PT30M"),
        limit: int = Query(50, description="1 to 200"),
        cursor: str | None = Query(None, description="next_cursor of the previous page", max_length=500),
    ) -> SessionPageOut:
        within: timedelta | None = None
        if closing_within is not None:
            try:
                within = parse_duration(closing_within, field="closing_within")
            except ValueError as exc:
                raise ValidationError("closing_within", str(exc)) from exc
        page = queries.list_sessions(
            ctx,
            workspace_id=ws,
            status=status,
            eligible=eligible,
            window_open=window_open,
            awaiting=awaiting,
            channel_id=channel_id,
            contact_id=contact_id,
            closing_within=within,
            limit=limit,
            cursor=cursor,
        )
        return SessionPageOut(items=[session_out(s) for s in page.items], next_cursor=page.next_cursor)

    @r.get("/sessions/{session_id}", response_model=SessionDetailOut, responses=errors(404))
    def get_session(session_id: PathId, ws: int = Depends(workspace)) -> SessionDetailOut:
        detail = queries.session_detail(ctx, session_id, workspace_id=ws)
        return SessionDetailOut(
            session=session_out(detail.summary),
            transcript=[MessageOut(**{k: getattr(m, k) for k in MessageOut.model_fields}) for m in detail.transcript],
            timeline=[
                EventOut(
                    id=e.id, type=e.type, at=e.at, channel_id=e.channel_id, session_id=e.session_id, data=dict(e.data)
                )
                for e in detail.timeline
            ],
        )

    @r.post(
        "/sessions/{session_id}/close",
        response_model=SessionOut,
        responses=errors(404, 409),
        summary="Close a session by hand (reason agent)",
    )
    def close_session(session_id: PathId, ws: int = Depends(workspace)) -> SessionOut:
        agents.close_session(ctx, session_id, workspace_id=ws)
        return session_out(queries.session_summary(ctx, session_id, workspace_id=ws))

    @r.post(
        "/sessions/{session_id}/messages",
        status_code=202,
        response_model=MessageQueued,
        responses=errors(404, 409),
        summary="Send a free-form text; 409 window_closed (with closed_at) outside the 24-hour window (R13)",
    )
    def send_text(session_id: PathId, body: TextIn, ws: int = Depends(workspace)) -> MessageQueued:
        message_id = agents.send_text(ctx, session_id, body.body, workspace_id=ws)
        return MessageQueued(message_id=message_id, status="pending")

    @r.post(
        "/sessions/{session_id}/templates",
        status_code=202,
        response_model=MessageQueued,
        responses=errors(404),
        summary="Send an approved template message (allowed outside the window)",
    )
    def send_template(session_id: PathId, body: TemplateIn, ws: int = Depends(workspace)) -> MessageQueued:
        message_id = agents.send_template(ctx, session_id, body.name, body.language, body.parameters, workspace_id=ws)
        return MessageQueued(message_id=message_id, status="pending")

    @r.post(
        "/sessions/{session_id}/snooze",
        response_model=SessionOut,
        responses=errors(404, 409),
        summary="Snooze until a time: no reminder and no automatic closure before then (issue 13)",
    )
    def snooze_session(session_id: PathId, body: SnoozeIn, ws: int = Depends(workspace)) -> SessionOut:
        snooze.snooze(ctx, session_id, body.until, workspace_id=ws)
        return session_out(queries.session_summary(ctx, session_id, workspace_id=ws))

    @r.delete(
        "/sessions/{session_id}/snooze",
        response_model=SessionOut,
        responses=errors(404),
        summary="Wake a snoozed session now; the timeout counts again from now",
    )
    def wake_session(session_id: PathId, ws: int = Depends(workspace)) -> SessionOut:
        snooze.wake(ctx, session_id, workspace_id=ws)
        return session_out(queries.session_summary(ctx, session_id, workspace_id=ws))

    return r

"""What agents do to a session: reply inside the window (R13) and close it by hand."""

from __future__ import annotations

from wasession.services import sessions as session_ops
from wasession.services.context import ServiceContext
from wasession.services.errors import ConflictError, NotFoundError, ValidationError, WindowClosedError
from wasession.store import channels as channel_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store

MAX_TEXT = 4096


def send_text(ctx: ServiceContext, session_id: int, body: str, *, workspace_id: int | None = None) -> int:
    """Queue an agent's free-form message; returns the message id. The sender delivers it."""
    if not body.strip():
        raise ValidationError("body", "body may not be empty", code="required")
    if len(body) > MAX_TEXT:
        raise ValidationError(
            "body", f"body must be at most {MAX_TEXT} characters; got {len(body)}", code="too_long"
        )
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session = session_store.get(conn, session_id, for_update=True)
        channel = channel_store.get(conn, session.channel_id) if session else None
        if (
            session is None
            or channel is None
            or (workspace_id is not None and channel.workspace_id != workspace_id)
        ):
            raise NotFoundError("session", session_id)
        if not session.window_open(now):
            raise WindowClosedError(
                session.window_closes_at if session.active else (session.closed_at or now)
            )
        message_id = message_store.insert_message(
            conn,
            session_id=session.id,
            channel_id=channel.id,
            direction="out",
            kind="agent",
            type="text",
            body=body,
            sent_at=now,
            created_at=now,
            status="pending",
        )
        # R8: an agent's message never moves T, the timeout or the window.
        session_store.update_session(
            conn, session.id, awaiting="customer", last_message_at=max(now, session.last_message_at)
        )
        session_ops.record(conn, channel, session.id, "agent_message", now, message_id=message_id)
    ctx.wake()
    return message_id


def close_session(ctx: ServiceContext, session_id: int, *, workspace_id: int | None = None) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session = session_store.get(conn, session_id, for_update=True)
        channel = channel_store.get(conn, session.channel_id) if session else None
        if (
            session is None
            or channel is None
            or (workspace_id is not None and channel.workspace_id != workspace_id)
        ):
            raise NotFoundError("session", session_id)
        if not session.active:
            raise ConflictError(f"session {session_id} is already closed", code="already_closed")
        session_ops.close(conn, channel, session, now, "agent")

"""What agents do to a session: reply inside the window (R13), send an approved template at any
time, close it by hand and reopen it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from wasession.domain import transitions
from wasession.domain.closing import TEMPLATE_LANGUAGE, TEMPLATE_NAME
from wasession.domain.events import EventType
from wasession.domain.reopen import ReopenedBy
from wasession.domain.states import CloseReason, Direction, MessageStatus
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.lifecycle.reopen import blocking_session, reopen_session
from wasession.services.errors import ConflictError, NotFoundError, ValidationError, WindowClosedError
from wasession.store import channels as channel_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.messages import CallbackTarget
from wasession.store.sessions import SessionRow

MAX_TEXT = 4096
PARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_PARAMETERS = 100
MAX_PARAMETER_TEXT = 1024


def agent_session(conn: Connection, session_id: int, workspace_id: int | None) -> tuple[SessionRow, Channel]:
    session = session_store.get(conn, session_id, for_update=True)
    channel = channel_store.get(conn, session.channel_id) if session else None
    if session is None or channel is None or (workspace_id is not None and channel.workspace_id != workspace_id):
        raise NotFoundError("session", session_id)
    return session, channel


def _queue(conn: Connection, session: SessionRow, channel: Channel, now: datetime, kind: str, **values: object) -> int:
    message_id = message_store.insert_message(
        conn,
        session_id=session.id,
        channel_id=channel.id,
        direction=Direction.OUT,
        kind=kind,
        sent_at=now,
        created_at=now,
        status=MessageStatus.PENDING,
        **values,
    )
    # Meta echoes it in every status, so a status maps back to its message even when the send's answer
    # (and its wamid) was lost.
    target = CallbackTarget(kind, session.id, message_id)
    message_store.update_message(conn, message_id, callback_data=target.text())
    session_writes.apply(
        conn, channel, session.id, transitions.agent_wrote(session_writes.state_of(session), now, channel.policy)
    )
    return message_id


def send_text(
    ctx: ServiceContext, session_id: int, body: str, *, workspace_id: int | None = None, author: str | None = None
) -> int:
    """Queue an agent's free-form message; returns the message id. The sender delivers it.
    `author`: the dashboard user who wrote it, shown on the reply.

    Inside WhatsApp's window a closed session is reopened first (the agent is answering the
    customer); outside it the refusal carries the window's close time, T + 24 h."""
    if not body.strip():
        raise ValidationError("body", "body may not be empty", code="required")
    if len(body) > MAX_TEXT:
        raise ValidationError("body", f"body must be at most {MAX_TEXT} characters; got {len(body)}", code="too_long")
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        if now >= session.window_closes_at:
            raise WindowClosedError(session.window_closes_at)
        if not session.active:
            _reopen(conn, session, channel, now)
            session = agent_session(conn, session_id, workspace_id)[0]
        message_id = _queue(conn, session, channel, now, "agent", type="text", body=body, author=author)
        by = {"by": author} if author else {}
        session_writes.record(conn, channel, session.id, EventType.AGENT_MESSAGE, now, message_id=message_id, **by)
    ctx.wake()
    return message_id


def send_template(
    ctx: ServiceContext,
    session_id: int,
    name: str,
    language: str,
    parameters: Sequence[str] | Mapping[str, str] = (),
    *,
    workspace_id: int | None = None,
    rendered: str | None = None,
) -> int:
    """Queue an approved template to the session's contact; returns the message id. `rendered` is
    its text with the parameters filled in, when the template is known (services.templates).

    Allowed at any time, inside or outside the window and on a closed session too, as long as the
    session (and so its contact) exists: templates are how a business reaches a user after the
    24 hours (ADR 0005). A template does not open or reopen a session and never moves T (R8).
    """
    payload = validate_template(name, language, parameters)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        message_id = _queue(
            conn,
            session,
            channel,
            now,
            "template",
            type="template",
            body=rendered or f"[template {payload['name']} ({payload['language']})]",
            payload=payload,
        )
        session_writes.record(
            conn,
            channel,
            session.id,
            EventType.AGENT_TEMPLATE,
            now,
            message_id=message_id,
            name=payload["name"],
            language=payload["language"],
            window_open=session.window_open(now),
        )
    ctx.wake()
    return message_id


def validate_template(name: object, language: object, parameters: object) -> dict[str, object]:
    """The stored template payload {name, language, parameters}, or a ValidationError naming the field."""
    if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
        raise ValidationError(
            "name",
            f"name must be an approved template's name: 1-512 lowercase letters, digits or underscores; got {name!r}",
        )
    if not isinstance(language, str) or not TEMPLATE_LANGUAGE.fullmatch(language):
        raise ValidationError(
            "language", f"language must be a template language code such as en or en_US; got {language!r}"
        )
    if isinstance(parameters, Mapping):
        items: list[tuple[str, object]] = [(f"parameters.{k}", v) for k, v in parameters.items()]
        for key in parameters:
            if not isinstance(key, str) or not PARAMETER_NAME.fullmatch(key):
                raise ValidationError(
                    f"parameters.{key}",
                    f"named parameters are lowercase letters, digits and underscores, starting with a letter; "
                    f"got {key!r}",
                )
        cleaned: object = {k: v for k, v in parameters.items()}
    elif isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        items = [(f"parameters[{i}]", v) for i, v in enumerate(parameters)]
        cleaned = list(parameters)
    else:
        raise ValidationError("parameters", "parameters must be a list of strings or an object of named strings")
    if len(items) > MAX_PARAMETERS:
        raise ValidationError("parameters", f"at most {MAX_PARAMETERS} parameters; got {len(items)}")
    for field_name, value in items:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(field_name, f"{field_name} must be a non-empty string", code="required")
        if len(value) > MAX_PARAMETER_TEXT:
            raise ValidationError(
                field_name, f"{field_name} must be at most {MAX_PARAMETER_TEXT} characters", code="too_long"
            )
    return {"name": name, "language": language, "parameters": cleaned}


def close_session(ctx: ServiceContext, session_id: int, *, workspace_id: int | None = None) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        if not session.active:
            raise ConflictError(f"session {session_id} is already closed", code="already_closed")
        change = transitions.closed(session_writes.state_of(session), now=now, reason=CloseReason.AGENT)
        session_writes.apply(conn, channel, session.id, change)


def _reopen(conn: Connection, session: SessionRow, channel: Channel, now: datetime) -> None:
    other = blocking_session(conn, session)
    if other is not None:
        raise ConflictError(
            f"session {session.id} cannot reopen: the contact's session {other.id} is open on this channel",
            code="newer_session_open",
        )
    reopen_session(conn, channel, session, now=now, by=ReopenedBy.AGENT)


def reopen(ctx: ServiceContext, session_id: int, *, workspace_id: int | None = None) -> None:
    """Make a closed session active again by hand (event `session_reopened`, by agent). 409 when it
    is already active or when the contact has a newer session open on the channel."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        if session.active:
            raise ConflictError(f"session {session_id} is already active", code="already_active")
        _reopen(conn, session, channel, now)
    ctx.wake()

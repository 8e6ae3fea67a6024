"""Sending again what did not reach the customer, through the same path as a first send.

Only a reply or template Meta certainly did not take (`failed`) is resent freely. An `unknown` one may
already be on the customer's phone (the connection broke mid-request), so it is resent only when the
agent says so knowingly. Reminders are the engine's to send, never resent by hand.
"""

from __future__ import annotations

from typing import Any

from wasession.domain.events import EventType
from wasession.domain.states import MessageKind, MessageStatus
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.services import agents
from wasession.services.errors import ConflictError, NotFoundError
from wasession.store import channels as channel_store
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store.messages import MessageRow

RESENDABLE = (MessageStatus.FAILED, MessageStatus.UNKNOWN)


def resend(ctx: ServiceContext, message_id: int, *, workspace_id: int | None = None, maybe_sent: bool = False) -> int:
    """Queue a copy of a failed message; returns the new message's id. `maybe_sent` is the agent's
    acknowledgement that an `unknown` message may reach the customer twice."""
    with ctx.db.read() as conn:
        message = message_store.get(conn, message_id)
        channel = channel_store.get(conn, message.channel_id) if message else None
        if message is None or channel is None or (workspace_id is not None and channel.workspace_id != workspace_id):
            raise NotFoundError("message", message_id)
        already = resent_ids(event_store.for_session(conn, message.session_id))
    check_resendable(message, maybe_sent=maybe_sent, already_resent=message.id in already)
    if message.kind == MessageKind.TEMPLATE:
        tpl: dict[str, Any] = message.payload or {}
        new_id = agents.send_template(
            ctx,
            message.session_id,
            str(tpl.get("name", "")),
            str(tpl.get("language", "")),
            tpl.get("parameters") or (),
            workspace_id=workspace_id,
            rendered=None if (message.body or "").startswith("[template ") else message.body,
        )
    else:
        new_id = agents.send_text(ctx, message.session_id, message.body or "", workspace_id=workspace_id)
    with ctx.db.write() as conn:
        session_writes.record(
            conn,
            channel,
            message.session_id,
            EventType.MESSAGE_RESENT,
            ctx.clock.now(),
            message_id=new_id,
            resent_from=message.id,
            previous_status=message.status,
        )
    return new_id


def check_resendable(message: MessageRow, *, maybe_sent: bool, already_resent: bool) -> None:
    if message.direction != "out" or message.kind not in (MessageKind.AGENT, MessageKind.TEMPLATE):
        raise ConflictError(
            "only an agent's reply or template can be resent; reminders are sent by the engine",
            code="not_resendable",
        )
    if message.status not in RESENDABLE:
        raise ConflictError(
            f"message {message.id} is {message.status}, not failed: only a failed message can be resent",
            code="not_failed",
        )
    if already_resent:
        raise ConflictError(f"message {message.id} was already resent", code="already_resent")
    if message.status == MessageStatus.UNKNOWN and not maybe_sent:
        raise ConflictError(
            f"message {message.id} may already have reached the customer (its send was interrupted); "
            "resend it only if sending it twice is acceptable (maybe_sent=true)",
            code="maybe_sent",
        )


def resent_ids(timeline: list[event_store.Event]) -> set[int]:
    """The messages of a timeline that were already resent, so none is resent twice."""
    return {int(e.data["resent_from"]) for e in timeline if e.type == EventType.MESSAGE_RESENT}

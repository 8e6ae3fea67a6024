"""What a failed send changes beyond its own row, whoever learnt of the failure (the sender from
Meta's answer, ingest from a `failed` status): one log line for the operator, and the agent is
awaited again when the failed reply was the only answer the customer was going to get."""

from __future__ import annotations

import logging
from datetime import datetime

from wasession.domain.states import Awaiting, MessageKind
from wasession.lifecycle import marketing
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.messages import MessageRow, MessageState
from wasession.whatsapp.reasons import in_words

log = logging.getLogger("wasession.send")


def send_failed(
    conn: Connection,
    channel: Channel,
    message: MessageRow | MessageState,
    code: int | None,
    title: str | None,
    detail: str | None,
    at: datetime | None = None,
) -> None:
    """`at`: when the failure happened (the status's time, or the answer's); 131049 and 131050 change
    the contact's marketing state from then (R24)."""
    if at is not None:
        marketing.send_failed(conn, channel, message.session_id, code, at)
    log.warning(
        "send failed: channel=%s message=%s kind=%s reason=%s",
        channel.name,
        message.id,
        message.kind,
        in_words(code, title, detail),
    )
    if message.kind not in (MessageKind.AGENT, MessageKind.TEMPLATE):
        return
    session = session_store.get(conn, message.session_id)
    if session is None or not session.active or session.awaiting == Awaiting.AGENT:
        return
    if not message_store.agent_send_standing(conn, session.id, session.last_customer_at, message.id):
        session_store.update_session(conn, session.id, awaiting=Awaiting.AGENT)

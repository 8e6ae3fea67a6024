"""Lookups ingest needs beyond the message store's own: the send a status names through its callback data."""

from __future__ import annotations

from sqlalchemy import Connection, select

from wasession.store.messages import MessageRow
from wasession.store.schema import messages

_AWAITING_WAMID = ("sending", "unknown", "accepted")


def by_callback(conn: Connection, channel_id: int, callback_data: str | None) -> MessageRow | None:
    """The message a status names through `biz_opaque_callback_data`, if it has no wamid yet.

    Agent and template sends carry `wasession:<kind>:<session>:<message>`; reminders
    `wasession:reminder:<session>`, which names the newest reminder of that session still
    waiting for its wamid.
    """
    parts = (callback_data or "").split(":")
    if len(parts) not in (3, 4) or parts[0] != "wasession" or not all(p.isdigit() for p in parts[2:]):
        return None
    query = select(messages).where(
        messages.c.channel_id == channel_id,
        messages.c.session_id == int(parts[2]),
        messages.c.kind == parts[1],
        messages.c.direction == "out",
        messages.c.wamid.is_(None),
        messages.c.status.in_(_AWAITING_WAMID),
    )
    if len(parts) == 4:
        query = query.where(messages.c.id == int(parts[3]))
    row = conn.execute(query.order_by(messages.c.id.desc()).limit(1)).mappings().first()
    return MessageRow(**dict(row)) if row else None

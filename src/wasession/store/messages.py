"""Transcript rows, inbound and outbound; outbound rows double as the send outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from wasession.store.schema import messages

# Built once: ingest runs these for every message, and building costs more than executing (issue 6).
_WAMID_EXISTS = select(messages.c.id).where(
    messages.c.channel_id == bindparam("b_channel_id"), messages.c.wamid == bindparam("b_wamid")
)
_INSERT = insert(messages)

# Delivery states only move forward (R15); failed, unknown and skipped are final.
# `accepted` is Meta's 200 to the send call: taken, not yet sent.
STATUS_RANK = {"pending": 0, "sending": 1, "accepted": 2, "sent": 3, "delivered": 4, "read": 5, "played": 5}
FINAL_STATUSES = frozenset({"failed", "unknown", "skipped"})


@dataclass(frozen=True)
class MessageRow:
    id: int
    session_id: int
    channel_id: int
    direction: str
    kind: str
    wamid: str | None
    type: str
    body: str | None
    payload: Any
    sent_at: datetime
    created_at: datetime
    status: str
    status_at: datetime | None
    error_code: int | None
    error_title: str | None
    error_detail: str | None
    callback_data: str | None
    attempts: int
    next_attempt_at: datetime | None
    silence_t: datetime | None


def _message(row: Any) -> MessageRow:
    return MessageRow(**dict(row))


def wamid_exists(conn: Connection, channel_id: int, wamid: str) -> bool:
    found = conn.execute(_WAMID_EXISTS, {"b_channel_id": channel_id, "b_wamid": wamid}).first()
    return found is not None


def insert_message(conn: Connection, **values: Any) -> int:
    return int(conn.execute(_INSERT, values).inserted_primary_key[0])  # type: ignore[index]


def get(conn: Connection, message_id: int) -> MessageRow | None:
    row = conn.execute(select(messages).where(messages.c.id == message_id)).mappings().first()
    return _message(row) if row else None


def by_wamid(conn: Connection, channel_id: int, wamid: str) -> MessageRow | None:
    row = (
        conn.execute(select(messages).where(messages.c.channel_id == channel_id, messages.c.wamid == wamid))
        .mappings()
        .first()
    )
    return _message(row) if row else None


def update_message(conn: Connection, message_id: int, **values: Any) -> None:
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))


def transcript(conn: Connection, session_id: int) -> list[MessageRow]:
    rows = conn.execute(
        select(messages)
        .where(messages.c.session_id == session_id)
        .order_by(messages.c.sent_at, messages.c.id)
    ).mappings()
    return [_message(r) for r in rows]


def _ready(now: datetime) -> Any:
    return and_(
        messages.c.status == "pending",
        or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now),
    )


def claim_pending(conn: Connection, now: datetime, limit: int) -> list[MessageRow]:
    rows = conn.execute(
        select(messages)
        .where(_ready(now))
        .order_by(messages.c.next_attempt_at, messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).mappings()
    return [_message(r) for r in rows]


def next_attempt_at(conn: Connection) -> datetime | None:
    """When the outbox next has work: the earliest retry time, or the creation of a ready message."""
    value: datetime | None = conn.execute(
        select(func.min(func.coalesce(messages.c.next_attempt_at, messages.c.created_at))).where(
            messages.c.status == "pending"
        )
    ).scalar()
    return value


def pending_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(messages.c.status == "pending")).scalar() or 0)

"""The outbox's SQL: which channels have ready messages, claiming them, and the batch writes of outcomes.

Outbound `messages` rows are the outbox (see store/messages.py); the sender (wasession.outbox) calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Exists, bindparam, case, exists, func, or_, select, update

from wasession.domain.states import MessageStatus, ReminderState
from wasession.store.contacts import Contact
from wasession.store.db import executemany
from wasession.store.messages import MessageRow, message_from
from wasession.store.schema import channels, contacts, messages, sessions
from wasession.store.sessions import SessionRow


def _has_pending(*when: ColumnElement[bool]) -> Exists:
    return exists().where(
        messages.c.channel_id == channels.c.id, messages.c.status == MessageStatus.PENDING.value, *when
    )


# Channels are few and pending messages may be a million: ask each unpaused channel whether it has a
# ready message (two probes on ix_messages_channel_outbox) instead of reading the distinct channels of
# every pending message.
_READY_CHANNELS = (
    select(channels.c.id)
    .where(
        channels.c.sending_paused_reason.is_(None),
        or_(
            _has_pending(messages.c.next_attempt_at.is_(None)),
            _has_pending(messages.c.next_attempt_at <= bindparam("now")),
        ),
    )
    .order_by(channels.c.id)
)
_HEADS = select(
    _has_pending(messages.c.next_attempt_at.is_(None)).label("ready"),
    select(func.min(messages.c.next_attempt_at))
    .where(messages.c.channel_id == channels.c.id, messages.c.status == MessageStatus.PENDING.value)
    .scalar_subquery()
    .label("earliest"),
).where(channels.c.sending_paused_reason.is_(None))
_SENDING = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(status=MessageStatus.SENDING.value, status_at=bindparam("now"), attempts=bindparam("n"))
)
# A status webhook naming the message by its callback data may have got here first: then the status it
# set stays, and only the wamid is added.
_STILL_SENDING = messages.c.status == MessageStatus.SENDING.value
_ACCEPTED = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(
        wamid=bindparam("w"),
        status=case((_STILL_SENDING, MessageStatus.ACCEPTED.value), else_=messages.c.status),
        status_at=case((_STILL_SENDING, bindparam("now")), else_=messages.c.status_at),
    )
)
# Only while the session is still in the silence the reminder was for (R6).
_REMINDER_SENT = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("sid"),
        sessions.c.last_customer_at == bindparam("t"),
        # A ladder that moved on to its next step keeps that step pending (issue 13).
        sessions.c.reminder_state != ReminderState.PENDING.value,
    )
    .values(reminder_state=ReminderState.SENT.value)
)


@dataclass(frozen=True)
class Head:
    """One unpaused channel's outbox: whether a never-deferred message waits, and the earliest retry time."""

    ready: bool
    earliest: datetime | None


@dataclass(frozen=True)
class Stuck:
    """A message a dead process left in `sending`, now marked `unknown`."""

    id: int
    session_id: int
    kind: str
    channel_id: int
    silence_t: datetime | None


def ready_channel_ids(conn: Connection, now: datetime) -> list[int]:
    return [int(i) for i in conn.execute(_READY_CHANNELS, {"now": now}).scalars()]


def heads(conn: Connection) -> list[Head]:
    return [Head(bool(r.ready), r.earliest) for r in conn.execute(_HEADS)]


def claim_ready(conn: Connection, channel_id: int, now: datetime, limit: int) -> list[MessageRow]:
    """The channel's ready messages, oldest retry first, locked against other senders (PostgreSQL)."""
    rows = conn.execute(
        select(messages)
        .where(
            messages.c.channel_id == channel_id,
            messages.c.status == MessageStatus.PENDING.value,
            or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now),
        )
        .order_by(messages.c.next_attempt_at, messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).mappings()
    return [message_from(r) for r in rows]


def sessions_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, SessionRow]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = conn.execute(select(sessions).where(sessions.c.id.in_(wanted))).mappings()
    return {int(r["id"]): SessionRow(**dict(r)) for r in rows}


def contacts_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, Contact]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = conn.execute(select(contacts).where(contacts.c.id.in_(wanted))).mappings()
    return {int(r["id"]): Contact(**dict(r)) for r in rows}


def mark_sending(conn: Connection, claimed: Sequence[MessageRow], now: datetime) -> None:
    """Committed before any request leaves: a crash from then on is `unknown`, never a resend."""
    if claimed:
        executemany(conn, _SENDING, [{"mid": m.id, "n": m.attempts + 1, "now": now} for m in claimed])


def mark_accepted(conn: Connection, wamids: Sequence[tuple[int, str]], now: datetime) -> None:
    """(message id, wamid) pairs Meta accepted, in one executemany."""
    if wamids:
        executemany(conn, _ACCEPTED, [{"mid": mid, "w": wamid, "now": now} for mid, wamid in wamids])


def mark_reminders_sent(conn: Connection, silences: Sequence[tuple[int, datetime | None]]) -> None:
    """(session id, silence start) pairs whose reminder was accepted."""
    if silences:
        executemany(conn, _REMINDER_SENT, [{"sid": sid, "t": t} for sid, t in silences])


def mark_stuck_unknown(conn: Connection, older_than: datetime, now: datetime, detail: str) -> list[Stuck]:
    rows = conn.execute(
        update(messages)
        .where(messages.c.status == MessageStatus.SENDING.value, messages.c.status_at < older_than)
        .values(status=MessageStatus.UNKNOWN.value, status_at=now, error_detail=detail)
        .returning(messages.c.id, messages.c.session_id, messages.c.kind, messages.c.channel_id, messages.c.silence_t)
    ).all()
    return [Stuck(r.id, r.session_id, r.kind, r.channel_id, r.silence_t) for r in rows]

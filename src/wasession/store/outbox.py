"""The outbox's SQL: which channels have ready messages, claiming them, and the batch writes of outcomes.

Outbound `messages` rows are the outbox (see store/messages.py); the sender (wasession.outbox) calls these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Exists, bindparam, case, exists, func, or_, select, update

from wasession.domain.states import Awaiting, MessageStatus, ReminderState, SessionStatus
from wasession.store.contacts import send_address
from wasession.store.db import executemany
from wasession.store.messages import MessageRow
from wasession.store.schema import channels, contacts, messages, sessions
from wasession.store.sessions import service_window_open


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
    .where(messages.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=MessageStatus.SENDING.value, status_at=bindparam("now"), attempts=messages.c.attempts + 1)
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


@dataclass(frozen=True)
class SessionCheck:
    """What the claim reads of a claimed message's session: what R6 and the agent's window check again at
    the moment of sending, and where the message goes (the contact's phone number or user id)."""

    id: int
    status: SessionStatus
    last_customer_at: datetime
    awaiting: Awaiting
    window_closes_at: datetime
    reminder_state: ReminderState
    wa_id: str | None
    user_id: str | None

    @property
    def active(self) -> bool:
        return self.status == SessionStatus.ACTIVE

    def window_open(self, now: datetime) -> bool:
        return service_window_open(self.status, self.window_closes_at, now)

    def send_address(self) -> tuple[str | None, str | None]:
        return send_address(self.wa_id, self.user_id)


_CLAIM = (
    select(
        messages,
        sessions.c.status.label("s_status"),
        sessions.c.last_customer_at.label("s_last_customer_at"),
        sessions.c.awaiting.label("s_awaiting"),
        sessions.c.window_closes_at.label("s_window_closes_at"),
        sessions.c.reminder_state.label("s_reminder_state"),
        contacts.c.wa_id.label("c_wa_id"),
        contacts.c.user_id.label("c_user_id"),
    )
    .join(sessions, sessions.c.id == messages.c.session_id)
    .join(contacts, contacts.c.id == sessions.c.contact_id)
    .where(
        messages.c.channel_id == bindparam("channel_id"),
        messages.c.status == MessageStatus.PENDING.value,
        or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= bindparam("now")),
    )
    .order_by(messages.c.next_attempt_at, messages.c.id)
    .limit(bindparam("limit"))
    # Only the messages are locked: a session row stays free for the apply and the due loop. FOR NO KEY
    # UPDATE, so a send whose pricing row another transaction is writing is not skipped (decision 0004).
    .with_for_update(skip_locked=True, of=messages, key_share=True)
)
_MESSAGE_COLUMNS = len(messages.c)


def claim_ready(conn: Connection, channel_id: int, now: datetime, limit: int) -> list[tuple[MessageRow, SessionCheck]]:
    """The channel's ready messages, oldest retry first, locked against other senders (PostgreSQL), each
    with its session's check: one statement, reading only the session and contact columns the claim uses."""
    claimed: list[tuple[MessageRow, SessionCheck]] = []
    for row in conn.execute(_CLAIM, {"channel_id": channel_id, "now": now, "limit": limit}):
        message = MessageRow(*row[:_MESSAGE_COLUMNS])
        status, last_customer_at, awaiting, window_closes_at, reminder_state, wa_id, user_id = row[_MESSAGE_COLUMNS:]
        check = SessionCheck(
            message.session_id,
            SessionStatus(status),
            last_customer_at,
            Awaiting(awaiting),
            window_closes_at,
            ReminderState(reminder_state),
            wa_id,
            user_id,
        )
        claimed.append((message, check))
    return claimed


def mark_sending(conn: Connection, claimed: Sequence[MessageRow], now: datetime) -> None:
    """Committed before any request leaves: a crash from then on is `unknown`, never a resend."""
    if claimed:
        conn.execute(_SENDING, {"ids": [m.id for m in claimed], "now": now})


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

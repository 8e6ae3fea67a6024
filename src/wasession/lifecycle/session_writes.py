"""The one writer of sessions and their events: it applies the `Change`s that `domain.transitions`
decide, batched per transaction (`SessionWrites`), for the due worker, agents, policy saves, ingest
and the sender alike."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from typing_extensions import Unpack

from wasession.domain.events import EventType
from wasession.domain.states import CloseReason, Direction, MessageKind, MessageStatus
from wasession.domain.transitions import (
    Change,
    EventNote,
    QueueClosing,
    QueueReminder,
    SendOutcome,
    SessionState,
    closed,
    reminder_send_outcome,
)
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.events import EventInsert
from wasession.store.messages import CallbackTarget
from wasession.store.sessions import SessionRow, SessionUpdate

# SessionState is the part of a stored session the transitions read: its fields are named once, there,
# and read from the row by name (the row converted its states to the enums already).
_STATE_NAMES = tuple(f.name for f in fields(SessionState))
_STATE_FIELDS = attrgetter(*_STATE_NAMES)
if not set(_STATE_NAMES) <= {f.name for f in fields(SessionRow)}:
    raise RuntimeError("SessionState's fields must be columns of SessionRow")


def state_of(session: SessionRow) -> SessionState:
    """The part of a stored session the transitions read."""
    return SessionState(*_STATE_FIELDS(session))


def _event(
    channel: Channel, session_id: int | None, event_type: EventType, at: datetime, data: dict[str, Any]
) -> EventInsert:
    return event_store.values(
        workspace_id=channel.workspace_id,
        channel_id=channel.id,
        session_id=session_id,
        type=event_type,
        at=at,
        data={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()},
    )


def record(
    conn: Connection,
    channel: Channel,
    session_id: int | None,
    event_type: EventType,
    at: datetime,
    /,
    **data: Any,
) -> None:
    event_store.add_many(conn, [_event(channel, session_id, event_type, at, data)])


class SessionWrites:
    """Session updates, queued messages and events of one transaction, gathered and then written
    set-based by `flush`.

    The engine acts on a claimed batch of sessions through one of these: instead of three or four
    statements per session, `flush` inserts the reminders and closing messages queued in one
    executemany (their ids returned in order, put into the events that name them), writes updates
    with equal values in one UPDATE … WHERE id IN (…), the rest in one executemany per set of
    columns, and every event in one executemany INSERT in the order recorded (so the events get the
    same ids, in the same order, as written one by one). Nothing reaches the database before `flush`;
    call it inside the same transaction. Two updates of one session merge, later values winning, as
    two UPDATEs in a row would.
    """

    def __init__(self) -> None:
        self._updates: dict[int, SessionUpdate] = {}
        self._events: list[EventInsert] = []
        self._messages: list[dict[str, Any]] = []  # queued sends, inserted first at flush
        self._naming: list[tuple[EventInsert, int]] = []  # (event, index in _messages) to put the id in

    def apply(self, conn: Connection, channel: Channel, session_id: int, change: Change) -> None:
        """Gather `change` for `session_id`, with the reminder or closing message it queues."""
        self._gather(channel, session_id, change)

    def close(self, channel: Channel, session: SessionRow, now: datetime, reason: CloseReason) -> None:
        self._gather(channel, session.id, closed(state_of(session), now=now, reason=reason))

    def _gather(self, channel: Channel, session_id: int, change: Change) -> None:
        queued = None
        if change.reminder is not None:
            queued = self._queue(_reminder_row(channel, session_id, change.reminder))
        if change.closing is not None:
            queued = self._queue(_closing_row(channel, session_id, change.closing))
        if change.fields:
            self.update(session_id, **change.fields)
        for note in change.events:
            event = _event(channel, session_id, note.type, note.at, _data(note))
            self._events.append(event)
            if note.names_message:
                assert queued is not None, f"{note.type} names a message the change did not queue"
                self._naming.append((event, queued))

    def _queue(self, row: dict[str, Any]) -> int:
        self._messages.append(row)
        return len(self._messages) - 1

    def update(self, session_id: int, **values: Unpack[SessionUpdate]) -> None:
        self._updates.setdefault(session_id, {}).update(values)

    def record(
        self, channel: Channel, session_id: int | None, event_type: EventType, at: datetime, /, **data: Any
    ) -> None:
        self._events.append(_event(channel, session_id, event_type, at, data))

    def rename_sessions(self, ids: dict[int, int], *, inserted: bool) -> None:
        """Sessions gathered under a stand-in id (the batch that opened them inserts them together)
        now have their stored ids: their events name those. `inserted`: the rows were inserted with
        every change gathered for them, so those updates are dropped."""
        for old, new in ids.items():
            values = self._updates.pop(old, None)
            if values is not None and not inserted:
                self._updates[new] = values
        for event in self._events:
            session_id = event["session_id"]
            if session_id is not None and session_id in ids:
                event["session_id"] = ids[session_id]

    def flush(self, conn: Connection) -> list[int]:
        """Write what was gathered; the ids of the messages queued, in the order queued."""
        ids = message_store.insert_messages_returning_ids(conn, self._messages)
        for event, index in self._naming:
            event["data"]["message_id"] = ids[index]
        alike: dict[tuple[tuple[str, Any], ...], list[int]] = {}
        for session_id, values in self._updates.items():
            alike.setdefault(tuple(values.items()), []).append(session_id)
        single: list[tuple[int, SessionUpdate]] = []
        for items, session_ids in alike.items():
            update: SessionUpdate = dict(items)  # type: ignore[assignment]  # the items of a SessionUpdate
            if len(session_ids) > 1:
                session_store.update_sessions_alike(conn, session_ids, **update)
            else:
                single.append((session_ids[0], update))
        session_store.update_sessions(conn, single)
        event_store.add_many(conn, self._events)
        self._updates = {}
        self._events = []
        self._messages = []
        self._naming = []
        return ids


def _reminder_row(channel: Channel, session_id: int, reminder: QueueReminder) -> dict[str, Any]:
    return _outbox_row(
        channel,
        session_id,
        MessageKind.REMINDER,
        reminder.at,
        body=reminder.text,
        silence_t=reminder.silence_t,
        callback_data=CallbackTarget(MessageKind.REMINDER, session_id).text(),
    )


def _closing_row(channel: Channel, session_id: int, closing: QueueClosing) -> dict[str, Any]:
    """The closing message in the outbox: sent after the session closed, so the sender checks no window
    for it beyond Meta's own (a template is allowed at any time)."""
    template = dict(closing.template) if closing.template is not None else None
    return _outbox_row(
        channel,
        session_id,
        MessageKind.CLOSING,
        closing.at,
        type="template" if template is not None else "text",
        body=closing.text if template is None else f"[template {template['name']} ({template['language']})]",
        payload=template,
        callback_data=CallbackTarget(MessageKind.CLOSING, session_id).text(),
    )


def _outbox_row(channel: Channel, session_id: int, kind: MessageKind, at: datetime, **values: Any) -> dict[str, Any]:
    # Every row names the same columns: the batch's queued messages are inserted in one executemany.
    return {
        "session_id": session_id,
        "channel_id": channel.id,
        "direction": Direction.OUT,
        "kind": kind,
        "type": "text",
        "payload": None,
        "silence_t": None,
        "sent_at": at,
        "created_at": at,
        "status": MessageStatus.PENDING,
        **values,
    }


def _data(note: EventNote) -> dict[str, Any]:
    if note.names_message:
        return {"message_id": None, **note.data}  # the id once the message is inserted (`flush`)
    return dict(note.data)


def apply(conn: Connection, channel: Channel, session_id: int, change: Change) -> None:
    """Write one change now (outside a batch): see `SessionWrites.apply`."""
    writes = SessionWrites()
    writes.apply(conn, channel, session_id, change)
    writes.flush(conn)


def reminder_failed(
    conn: Connection,
    channel: Channel,
    session: SessionRow,
    silence_t: datetime | None,
    code: int | None,
    at: datetime,
    now: datetime,
) -> None:
    """A reminder of the current silence failed; 131047 means Meta considers the window over (R15).

    The sender calls this; ingest decides the same with `reminder_send_outcome` in its batch."""
    change = reminder_send_outcome(
        state_of(session),
        silence_t=silence_t,
        outcome=SendOutcome.FAILED,
        policy=channel.policy,
        now=now,
        at=at,
        error_code=code,
    )
    apply(conn, channel, session.id, change)

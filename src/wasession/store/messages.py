"""Transcript rows, inbound and outbound; outbound rows double as the send outbox."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update
from typing_extensions import Unpack

from wasession.domain.states import MessageStatus
from wasession.store.db import executemany, in_lists
from wasession.store.schema import messages, require_column_order

# Built once: ingest runs these for every message, and building costs more than executing (issue 6).
_WAMID_EXISTS = select(messages.c.id).where(
    messages.c.channel_id == bindparam("b_channel_id"), messages.c.wamid == bindparam("b_wamid")
)
_INSERT = insert(messages)
_INSERT_RETURNING_IDS = insert(messages).returning(messages.c.id, sort_by_parameter_order=True)
_UPDATE = update(messages).where(messages.c.id == bindparam("b_message_id"))
_STATE_COLUMNS = (
    messages.c.id,
    messages.c.session_id,
    messages.c.channel_id,
    messages.c.direction,
    messages.c.kind,
    messages.c.wamid,
    messages.c.status,
    messages.c.silence_t,
)
# Channel first: the unique index on (channel_id, wamid) serves it.
_STATES_BY_WAMIDS = select(*_STATE_COLUMNS).where(
    messages.c.channel_id == bindparam("b_channel_id"), messages.c.wamid.in_(bindparam("b_wamids", expanding=True))
)

# Delivery states only move forward (R15); failed, unknown and skipped are final.
# `accepted` is Meta's 200 to the send call: taken, not yet sent.
STATUS_RANK: dict[str, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.ACCEPTED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
    MessageStatus.PLAYED: 5,
}
FINAL_STATUSES: frozenset[str] = frozenset({MessageStatus.FAILED, MessageStatus.UNKNOWN, MessageStatus.SKIPPED})


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
    author: str | None = None  # the dashboard user who wrote an agent message


# The outbox's claim converts its rows positionally: the fields follow the table's columns.
require_column_order(MessageRow, messages)


class MessageUpdate(TypedDict, total=False):
    """The columns a message row update may set, so a misspelt or mistyped one fails type checking."""

    wamid: str | None
    status: str
    status_at: datetime | None
    error_code: int | None
    error_title: str | None
    error_detail: str | None
    callback_data: str | None
    attempts: int
    next_attempt_at: datetime | None


@dataclass(slots=True)
class MessageState:
    """What applying a status reads of a message, kept current in memory while a batch is applied."""

    id: int
    session_id: int
    channel_id: int
    direction: str
    kind: str
    wamid: str | None
    status: str
    silence_t: datetime | None

    @classmethod
    def of(cls, row: MessageRow) -> MessageState:
        return cls(
            row.id, row.session_id, row.channel_id, row.direction, row.kind, row.wamid, row.status, row.silence_t
        )


def message_from(row: Any) -> MessageRow:
    return MessageRow(**dict(row))


def wamid_exists(conn: Connection, channel_id: int, wamid: str) -> bool:
    found = conn.execute(_WAMID_EXISTS, {"b_channel_id": channel_id, "b_wamid": wamid}).first()
    return found is not None


def insert_message(conn: Connection, **values: Any) -> int:
    return int(conn.execute(_INSERT, values).inserted_primary_key[0])  # type: ignore[index]


def get(conn: Connection, message_id: int) -> MessageRow | None:
    row = conn.execute(select(messages).where(messages.c.id == message_id)).mappings().first()
    return message_from(row) if row else None


def by_wamid(conn: Connection, channel_id: int, wamid: str) -> MessageRow | None:
    row = (
        conn.execute(select(messages).where(messages.c.channel_id == channel_id, messages.c.wamid == wamid))
        .mappings()
        .first()
    )
    return message_from(row) if row else None


def update_message(conn: Connection, message_id: int, **values: Unpack[MessageUpdate]) -> None:
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))


def transcript(conn: Connection, session_id: int) -> list[MessageRow]:
    rows = conn.execute(
        select(messages).where(messages.c.session_id == session_id).order_by(messages.c.sent_at, messages.c.id)
    ).mappings()
    return [message_from(r) for r in rows]


def states_by_wamid(conn: Connection, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], MessageState]:
    """The messages named by (channel id, wamid): one query per channel and `VALUES_PER_IN_LIST` wamids."""
    return {
        (channel_id, state.wamid or ""): state
        for channel_id, state in _states_by_channel(conn, _STATES_BY_WAMIDS, "b_wamids", keys)
    }


def _states_by_channel(
    conn: Connection, statement: Select[Any], values_param: str, keys: Iterable[tuple[int, Any]]
) -> Iterator[tuple[int, MessageState]]:
    """(channel id, state) of the rows `statement` finds for (channel id, value) `keys`: one query per
    channel and `VALUES_PER_IN_LIST` values, bound to `b_channel_id` and `values_param`."""
    by_channel: dict[int, list[Any]] = {}
    for channel_id, value in set(keys):
        by_channel.setdefault(channel_id, []).append(value)
    for channel_id, values in by_channel.items():
        values.sort()
        for part in in_lists(values):
            for row in conn.execute(statement, {"b_channel_id": channel_id, values_param: part}):
                yield channel_id, MessageState(*row)


def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """New rows in one executemany INSERT; their ids ascend in the order given. Every row must
    name the same columns."""
    if rows:
        conn.execute(_INSERT, list(rows))


def insert_messages_returning_ids(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """New rows in one executemany INSERT; their ids, in the order given. Every row must name the
    same columns."""
    if not rows:
        return []
    if conn.dialect.name == "sqlite":
        # SQLAlchemy returns ids in order from SQLite only by inserting row by row; one executemany
        # took the due loop from ~220 to ~150 µs a reminder. This transaction holds SQLite's one
        # write lock, so the rows take consecutive ids ending at the last one inserted.
        executemany(conn, _INSERT, rows)
        last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
        return list(range(last - len(rows) + 1, last + 1))
    return [int(row[0]) for row in conn.execute(_INSERT_RETURNING_IDS, list(rows))]


def update_messages(conn: Connection, updates: Iterable[tuple[int, MessageUpdate]]) -> None:
    """Each (message id, values) as `update_message` would write it, one executemany per set of columns.

    Each message id at most once."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for message_id, values in updates:
        by_columns.setdefault(tuple(values), []).append({"b_message_id": message_id, **values})
    for params in by_columns.values():
        executemany(conn, _UPDATE, params)


def agent_send_standing(conn: Connection, session_id: int, since: datetime, excluding: int) -> bool:
    """Whether an agent reply or template sent at or after `since` (other than `excluding`) may still
    have reached the customer: anything but failed or skipped."""
    found = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.session_id == session_id,
            messages.c.direction == "out",
            messages.c.kind.in_(("agent", "template")),
            messages.c.sent_at >= since,
            messages.c.id != excluding,
            messages.c.status.not_in((MessageStatus.FAILED, MessageStatus.SKIPPED)),
        )
        .limit(1)
    ).first()
    return found is not None


def last_inbound_wamid(conn: Connection, session_id: int) -> str | None:
    """The wamid of the customer's latest message in the session (what a read receipt names)."""
    query = (
        select(messages.c.wamid)
        .where(messages.c.session_id == session_id, messages.c.direction == "in", messages.c.wamid.is_not(None))
        .order_by(messages.c.sent_at.desc(), messages.c.id.desc())
        .limit(1)
    )
    value = conn.execute(query).scalar()
    return str(value) if value else None


# Lookups ingest needs beyond the message store's own: the sends a status names through its callback data.
_AWAITING_WAMID = ("sending", "unknown", "accepted")
_AWAITING = select(*_STATE_COLUMNS).where(
    messages.c.channel_id == bindparam("b_channel_id"),
    messages.c.session_id.in_(bindparam("b_sessions", expanding=True)),
    messages.c.direction == "out",
    # Not `wamid IS NULL`: with it SQLite reads through the (channel_id, wamid) unique index every
    # send of the channel still waiting for its wamid (the whole outbox in a backlog: 1 ms a status
    # with 12,000 pending in B7) instead of the session's own rows.
    func.coalesce(messages.c.wamid, "") == "",
    messages.c.status.in_(_AWAITING_WAMID),
)


@dataclass(frozen=True)
class CallbackTarget:
    """What our `biz_opaque_callback_data` names. Agent and template sends carry
    `wasession:<kind>:<session>:<message>`; reminders `wasession:reminder:<session>`, which names the
    newest reminder of that session still waiting for its wamid."""

    kind: str
    session_id: int
    message_id: int | None = None

    def text(self) -> str:
        """The callback data a send carries to name this (what `parse` reads back)."""
        return f"wasession:{self.kind}:{self.session_id}" + ("" if self.message_id is None else f":{self.message_id}")

    @classmethod
    def parse(cls, callback_data: str | None) -> CallbackTarget | None:
        parts = (callback_data or "").split(":")
        if len(parts) not in (3, 4) or parts[0] != "wasession" or not all(p.isdigit() for p in parts[2:]):
            return None
        return cls(parts[1], int(parts[2]), int(parts[3]) if len(parts) == 4 else None)

    def pick(self, candidates: list[MessageState]) -> MessageState | None:
        """The newest of `candidates` (the session's sends waiting for a wamid) this names, taken out."""
        for i, state in enumerate(candidates):
            if state.kind == self.kind and self.message_id in (None, state.id):
                return candidates.pop(i)
        return None


def awaiting_wamid(conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[MessageState]]:
    """Our sends in each (channel id, session id) still waiting for their wamid, newest first: what
    a status whose wamid is not stored yet may name through its callback data (one query per
    channel and `VALUES_PER_IN_LIST` sessions)."""
    found: dict[tuple[int, int], list[MessageState]] = {}
    for channel_id, state in _states_by_channel(conn, _AWAITING, "b_sessions", keys):
        found.setdefault((channel_id, state.session_id), []).append(state)
    for states in found.values():
        states.sort(key=lambda state: state.id, reverse=True)
    return found

"""The heartbeats of running `serve --sandbox-speed` processes, and moving a sandbox's timeline back.

Every time here is real time (not the sped-up clock's), so any process can compare it with its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Table, bindparam, delete, func, insert, select, update

from wasession.store.db import UTCDateTime
from wasession.store.schema import (
    channels,
    chat_reads,
    events,
    fast_clocks,
    message_pricing,
    messages,
    session_referrals,
    sessions,
)


@dataclass(frozen=True)
class FastClock:
    owner: str
    speed: float
    started_at: datetime
    expires_at: datetime


def beat(conn: Connection, owner: str, speed: float, now: datetime, expires_at: datetime) -> None:
    found = conn.execute(
        update(fast_clocks).where(fast_clocks.c.owner == owner).values(speed=speed, expires_at=expires_at)
    ).rowcount
    if not found:
        conn.execute(insert(fast_clocks).values(owner=owner, speed=speed, started_at=now, expires_at=expires_at))


def end(conn: Connection, owner: str) -> None:
    conn.execute(delete(fast_clocks).where(fast_clocks.c.owner == owner))


def running(conn: Connection, now: datetime, *, other_than: str | None = None) -> FastClock | None:
    """A sped-up server whose last heartbeat has not expired, or None."""
    query = select(fast_clocks).where(fast_clocks.c.expires_at > now).order_by(fast_clocks.c.started_at)
    if other_than is not None:
        query = query.where(fast_clocks.c.owner != other_than)
    row = conn.execute(query.limit(1)).mappings().first()
    return FastClock(**dict(row)) if row else None


def forget_expired(conn: Connection, now: datetime) -> None:
    conn.execute(delete(fast_clocks).where(fast_clocks.c.expires_at <= now))


# What happened on a channel, with the time it happened: the latest of these may not be after now.
_HAPPENED = (
    (sessions, ("opened_at", "closed_at", "last_customer_at", "last_message_at")),
    (messages, ("sent_at", "created_at", "status_at")),
    (events, ("at",)),
)


def latest_happening(conn: Connection, channel_id: int) -> datetime | None:
    latest: datetime | None = None
    for table, names in _HAPPENED:
        for name in names:
            value = conn.execute(
                select(func.max(table.c[name]).label("m")).where(table.c.channel_id == channel_id)
            ).scalar()
            if value is not None and (latest is None or value > latest):
                latest = value
    return latest


def shift_back(conn: Connection, channel_id: int, offset: timedelta) -> int:
    """Move every time of `channel_id`'s sessions, messages, events and what hangs off them back by
    `offset`, in Python so the arithmetic is the same on every database. Returns the rows changed."""
    session_ids = select(sessions.c.id).where(sessions.c.channel_id == channel_id).scalar_subquery()
    changed = 0
    for table, key, where in (
        (sessions, ("id",), sessions.c.channel_id == channel_id),
        (messages, ("id",), messages.c.channel_id == channel_id),
        (events, ("id",), events.c.channel_id == channel_id),
        (message_pricing, ("message_id",), message_pricing.c.channel_id == channel_id),
        (session_referrals, ("session_id",), session_referrals.c.session_id.in_(session_ids)),
        (chat_reads, ("user_id", "session_id"), chat_reads.c.session_id.in_(session_ids)),
    ):
        changed += _shift_table(conn, table, key, where, offset)
    return changed


def _shift_table(
    conn: Connection, table: Table, key: Iterable[str], where: ColumnElement[bool], offset: timedelta
) -> int:
    keys = list(key)
    times = [c.name for c in table.columns if isinstance(c.type, UTCDateTime)]
    rows = conn.execute(select(*[table.c[k] for k in keys], *[table.c[t] for t in times]).where(where)).mappings()
    params = []
    for row in rows:
        values: dict[str, object] = {f"k_{k}": row[k] for k in keys}
        for t in times:
            values[f"v_{t}"] = row[t] - offset if row[t] is not None else None
        params.append(values)
    if not params:
        return 0
    statement = update(table).where(*[table.c[k] == bindparam(f"k_{k}") for k in keys])
    conn.execute(statement.values({t: bindparam(f"v_{t}") for t in times}), params)
    return len(params)


def sandbox_channel_ids(conn: Connection) -> list[int]:
    return list(
        conn.execute(select(channels.c.id).where(channels.c.sandbox.is_(True)).order_by(channels.c.id)).scalars()
    )

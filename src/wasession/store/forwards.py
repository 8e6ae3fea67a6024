"""Relay forward targets, their cursors over webhook_log, leases and delivery attempts.

A target holds no copy of any body: it follows `webhook_log` by id, so the commit that makes a body
durable is the one that makes it due for every target. The lease columns let one process at a time
deliver a target; every cursor write names the lease owner, so a process whose lease was taken over
writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from wasession.store.schema import relay_deliveries, relay_targets, webhook_log
from wasession.store.secrets import SecretBox
from wasession.store.webhook_log import Outcome

# Like Meta's own retries: a body a target has not taken within this long of its arrival is given up.
GIVE_UP_AFTER = timedelta(days=7)
RECYCLE_AFTER_BYTES = 1024 * 1024  # a read of this many body bytes retires its PostgreSQL connection


@dataclass(frozen=True)
class Target:
    id: int
    workspace_id: int
    channel_id: int
    url: str
    fields: tuple[str, ...]
    description: str
    paused: bool
    resigned: bool  # it has a secret of its own; the body is signed with it
    cursor: int
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    id: int
    target_id: int
    log_id: int
    attempt: int
    at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class LogRow:
    id: int
    received_at: datetime
    body: bytes
    signature: str | None
    # None: not applied yet, or applying it failed; else the phone_number_ids its apply did not take
    # (refused: their channel's secret did not sign it; or no channel had them). A number it names and
    # the apply took was verified when the body arrived, whatever the channel's secret is now.
    not_applied: frozenset[str] | None = None


_T = relay_targets
_PUBLIC = [
    _T.c[n]
    for n in (
        "id",
        "workspace_id",
        "channel_id",
        "url",
        "fields",
        "description",
        "paused",
        "cursor",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
]


def _target(row: Any) -> Target:
    values = dict(row)
    values["fields"] = tuple(values["fields"] or ())
    resigned = values.pop("has_secret")
    return Target(resigned=bool(resigned), **values)


def _select() -> Any:
    return select(*_PUBLIC, _T.c.secret_enc.is_not(None).label("has_secret"))


def newest_log_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(webhook_log.c.id), 0))).scalar_one())


def insert_target(
    conn: Connection,
    box: SecretBox,
    *,
    workspace_id: int,
    channel_id: int,
    url: str,
    secret: str | None,
    fields: list[str],
    description: str,
    cursor: int,
    now: datetime,
) -> int:
    """A new target starts after `cursor`, the newest body stored (`newest_log_id`, read before this
    transaction: on SQLite the log is a file the main database's writer does not see)."""
    result = conn.execute(
        insert(_T).values(
            workspace_id=workspace_id,
            channel_id=channel_id,
            url=url,
            secret_enc=box.encrypt(secret) if secret else None,
            fields=fields,
            description=description,
            cursor=cursor,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def any_unpaused(conn: Connection) -> bool:
    return conn.execute(select(_T.c.id).where(_T.c.paused.is_(False)).limit(1)).first() is not None


def get_target(conn: Connection, target_id: int) -> Target | None:
    row = conn.execute(_select().where(_T.c.id == target_id)).mappings().first()
    return _target(row) if row else None


def targets_of_channel(conn: Connection, channel_id: int) -> list[Target]:
    rows = conn.execute(_select().where(_T.c.channel_id == channel_id).order_by(_T.c.id)).mappings()
    return [_target(r) for r in rows]


def count_in_workspace(conn: Connection, workspace_id: int) -> int:
    return int(conn.execute(select(func.count()).where(_T.c.workspace_id == workspace_id)).scalar_one())


def update_target(conn: Connection, box: SecretBox, target_id: int, *, secret: str | None, **values: Any) -> None:
    """`secret`: None keeps it, "" removes it (Meta's signature is passed on again), else the new one."""
    if secret is not None:
        values["secret_enc"] = box.encrypt(secret) if secret else None
    if values:
        conn.execute(update(_T).where(_T.c.id == target_id).values(**values))


def delete_target(conn: Connection, target_id: int) -> None:
    conn.execute(delete(_T).where(_T.c.id == target_id))


def secret_of(conn: Connection, box: SecretBox, target_id: int) -> str | None:
    token = conn.execute(select(_T.c.secret_enc).where(_T.c.id == target_id)).scalar_one_or_none()
    return box.decrypt(token) if token else None


def move_cursor(conn: Connection, target_id: int, cursor: int) -> None:
    """Replay: the bodies after `cursor` are due again, at once, whatever was delivered already."""
    conn.execute(update(_T).where(_T.c.id == target_id).values(cursor=cursor, attempts=0, next_attempt_at=None))


def last_id_before(conn: Connection, when: datetime) -> int:
    found = conn.execute(select(func.max(webhook_log.c.id)).where(webhook_log.c.received_at < when)).scalar()
    return int(found or 0)


# -- what the relay worker reads and writes ------------------------------------------------------------


def next_due(conn: Connection, now: datetime) -> datetime | None:
    """When some unpaused target next has work: now if a body follows its cursor and it waits for
    no retry time, else its earliest retry time. Index probes only."""
    newest = newest_log_id(conn)
    live = and_(_T.c.paused.is_(False), or_(_T.c.lease_until.is_(None), _T.c.lease_until <= now))
    ready = conn.execute(
        select(_T.c.id)
        .where(live, _T.c.cursor < newest, or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= now))
        .limit(1)
    ).first()
    if ready is not None:
        return now
    earliest = conn.execute(
        select(func.min(_T.c.next_attempt_at)).where(live, _T.c.cursor < newest, _T.c.next_attempt_at.is_not(None))
    ).scalar()
    leases = conn.execute(
        select(func.min(_T.c.lease_until)).where(_T.c.paused.is_(False), _T.c.lease_until > now, _T.c.cursor < newest)
    ).scalar()
    return min((t for t in (earliest, leases) if t is not None), default=None)


def due_targets(conn: Connection, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(target id, workspace id) of the targets with work due now, retries last."""
    newest = newest_log_id(conn)
    rows = conn.execute(
        select(_T.c.id, _T.c.workspace_id)
        .where(
            _T.c.paused.is_(False),
            _T.c.cursor < newest,
            or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= now),
            or_(_T.c.lease_until.is_(None), _T.c.lease_until <= now),
        )
        .order_by(_T.c.next_attempt_at.is_not(None), _T.c.id)
        .limit(limit)
    ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def take_lease(conn: Connection, target_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """True when this process now delivers the target (nobody else holds a live lease on it)."""
    result = conn.execute(
        update(_T)
        .where(
            _T.c.id == target_id,
            _T.c.paused.is_(False),
            or_(_T.c.lease_until.is_(None), _T.c.lease_until <= now, _T.c.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    return result.rowcount == 1


def release_lease(conn: Connection, target_id: int, owner: str) -> None:
    conn.execute(
        update(_T).where(_T.c.id == target_id, _T.c.lease_owner == owner).values(lease_owner=None, lease_until=None)
    )


def lease_owners(conn: Connection) -> list[str]:
    query = select(_T.c.lease_owner).where(_T.c.lease_owner.is_not(None)).distinct()
    return [str(o) for o in conn.execute(query).scalars()]


def release_leases_of(conn: Connection, owner: str) -> None:
    conn.execute(update(_T).where(_T.c.lease_owner == owner).values(lease_owner=None, lease_until=None))


def advance(
    conn: Connection,
    target_id: int,
    owner: str,
    *,
    expected_cursor: int,
    cursor: int,
    attempts: int,
    next_attempt_at: datetime | None,
    lease_until: datetime,
) -> bool:
    """Move the cursor from `expected_cursor` under this owner's lease; False when the lease was lost
    the cursor moved meanwhile (a replay) or the target was paused: the caller stops there."""
    result = conn.execute(
        update(_T)
        .where(_T.c.id == target_id, _T.c.lease_owner == owner, _T.c.cursor == expected_cursor, _T.c.paused.is_(False))
        .values(cursor=cursor, attempts=attempts, next_attempt_at=next_attempt_at, lease_until=lease_until)
    )
    return result.rowcount == 1


def log_after(conn: Connection, cursor: int, *, max_bytes: int, max_rows: int) -> list[LogRow]:
    """The bodies after `cursor` in id order, as many as fit in `max_bytes` (at least one): the sizes
    are read first (from the row header, not the body), so a target never holds more than that at once."""
    t = webhook_log
    sizes = conn.execute(
        select(t.c.id, func.length(t.c.body)).where(t.c.id > cursor).order_by(t.c.id).limit(max_rows)
    ).all()
    if not sizes:
        return []
    total, last = 0, int(sizes[0][0])
    for log_id, size in sizes:
        if total and total + int(size or 0) > max_bytes:
            break
        total += int(size or 0)
        last = int(log_id)
    rows = conn.execute(
        select(t.c.id, t.c.received_at, t.c.body, t.c.signature, t.c.processed_at, t.c.outcome, t.c.failed)
        .where(t.c.id > cursor, t.c.id <= last)
        .order_by(t.c.id)
    ).all()
    if total >= RECYCLE_AFTER_BYTES and conn.dialect.name == "postgresql":
        # libpq keeps its input buffer at the largest answer it read (a 3 MB bytea arrives as 6 MB of hex),
        # for as long as the pooled connection lives: 8 targets replaying such bodies kept ~100 MB. This
        # connection is closed when its transaction ends instead of going back to the pool.
        conn.detach()
    return [LogRow(int(r[0]), r[1], bytes(r[2]), r[3], _not_applied(r[4], r[5], r[6])) for r in rows]


def _not_applied(processed_at: datetime | None, outcome: Any, failed: bool) -> frozenset[str] | None:
    if processed_at is None or failed:
        return None
    read = Outcome.from_json(outcome)
    return frozenset(read.refused) | frozenset(read.unroutable)


def record_attempt(
    conn: Connection,
    *,
    target_id: int,
    log_id: int,
    attempt: int,
    at: datetime,
    outcome: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    conn.execute(
        insert(relay_deliveries).values(
            target_id=target_id,
            log_id=log_id,
            attempt=attempt,
            at=at,
            outcome=outcome,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )


def attempts_of(conn: Connection, target_id: int, *, before_id: int | None, limit: int) -> list[Attempt]:
    d = relay_deliveries
    query = select(d).where(d.c.target_id == target_id)
    if before_id is not None:
        query = query.where(d.c.id < before_id)
    rows = conn.execute(query.order_by(d.c.id.desc()).limit(limit)).mappings()
    return [Attempt(**dict(r)) for r in rows]


def lag(conn: Connection) -> list[tuple[int, int]]:
    """(target id, bodies stored after its cursor) for every target: the lag gauge."""
    newest = newest_log_id(conn)
    rows = conn.execute(select(_T.c.id, _T.c.cursor)).all()
    return [(int(r[0]), max(0, newest - int(r[1]))) for r in rows]


def oldest_needed(conn: Connection) -> int | None:
    """The smallest cursor of any target: the log rows after it may still be forwarded."""
    found = conn.execute(select(func.min(_T.c.cursor))).scalar()
    return int(found) if found is not None else None

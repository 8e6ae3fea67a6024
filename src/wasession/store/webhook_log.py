"""Raw webhook bodies, stored before the 2xx because Meta has no API to fetch past webhooks.

Each row keeps the exact signed bytes, the signature header they came with (so re-processing can
verify every change again against its own channel), their sha256 (a replay within the retention
period is recognised and stored once) and a structured outcome: `Outcome` is its only writer and
only reader, and the `unroutable` and `failed` flags beside it are what the admin queries filter on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from wasession.store.db import Database, in_lists, sqlite_driver, sqlite_text
from wasession.store.schema import webhook_log

_COUNTS = ("messages", "opened", "duplicates", "statuses", "others", "groups")


@dataclass(frozen=True)
class Outcome:
    """What applying one stored body did. `refused`: phone_number_ids of changes whose channel's
    app secret does not sign the body, never applied; `unroutable`: no channel has them."""

    messages: int = 0
    opened: int = 0
    duplicates: int = 0
    statuses: int = 0
    others: int = 0
    groups: int = 0
    unroutable: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Every applied body stores one: a shallow copy, not `asdict`'s deep one (~40 µs a body).
        data = {name: getattr(self, name) for name in _OUTCOME_FIELDS}
        data["unroutable"] = sorted(set(self.unroutable))
        data["refused"] = sorted(set(self.refused))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Outcome:
        if not data:
            return cls()
        counts = {k: int(data.get(k) or 0) for k in _COUNTS}
        return cls(
            **counts,
            unroutable=tuple(str(p) for p in data.get("unroutable") or ()),
            refused=tuple(str(p) for p in data.get("refused") or ()),
            error=data.get("error"),
        )

    def summary(self) -> str:
        """One line for people (CLI output, logs); nothing parses it."""
        if self.error:
            return f"error: {self.error}"
        parts = [f"{k}={v}" for k, v in self.to_json().items() if isinstance(v, int) and (v or k != "groups")]
        for name in ("unroutable", "refused"):
            ids: tuple[str, ...] = getattr(self, name)
            if ids:
                parts.append(f"{name}=" + ",".join(sorted(set(ids))))
        return " ".join(parts)


@dataclass(frozen=True)
class LoggedBody:
    id: int
    received_at: datetime
    processed_at: datetime | None
    outcome: Outcome | None = field(default=None)

    @property
    def unroutable_ids(self) -> list[str]:
        """The phone_number_ids of this body that no channel claimed when it was applied."""
        return sorted(set(self.outcome.unroutable)) if self.outcome else []


_OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _outcome_values(outcome: Outcome) -> dict[str, Any]:
    return {"outcome": outcome.to_json(), "unroutable": bool(outcome.unroutable), "failed": outcome.error is not None}


# Built once: every webhook runs these, and building a statement costs more than executing it (issue 6).
_APPEND = insert(webhook_log)
_MARK_MANY = update(webhook_log).where(webhook_log.c.id.in_(bindparam("b_ids", expanding=True)))
_REMOVE = delete(webhook_log).where(webhook_log.c.id == bindparam("b_id"))
_BY_HASH = select(webhook_log.c.id).where(webhook_log.c.body_sha256 == bindparam("b_hash"))


def append(conn: Connection, body: bytes, received_at: datetime, signature: str | None) -> int:
    """Append a body not applied yet (`mark_applied` records what applying it did)."""
    values = {"body": body, "received_at": received_at, "signature": signature, "body_sha256": body_hash(body)}
    result = conn.execute(_APPEND, values)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def append_processed(
    conn: Connection, body: bytes, received_at: datetime, signature: str | None, outcome: Outcome
) -> int:
    """Append a body already applied in this transaction, with its outcome: one statement."""
    values = {
        "body": body,
        "received_at": received_at,
        "signature": signature,
        "body_sha256": body_hash(body),
        "processed_at": received_at,
        **_outcome_values(outcome),
    }
    result = conn.execute(_APPEND, values)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def remove(conn: Connection, log_id: int) -> None:
    conn.execute(_REMOVE, {"b_id": log_id})


def id_of_body(conn: Connection, body: bytes) -> int | None:
    """The stored row holding exactly these bytes, if any (a replay of a captured body)."""
    found = conn.execute(_BY_HASH, {"b_hash": body_hash(body)}).scalar()
    return int(found) if found is not None else None


def body_and_signature(conn: Connection, log_id: int) -> tuple[bytes, str | None] | None:
    row = conn.execute(select(webhook_log.c.body, webhook_log.c.signature).where(webhook_log.c.id == log_id)).first()
    return (bytes(row[0]), row[1]) if row is not None else None


def delete_received_before(
    conn: Connection, cutoff: datetime, limit: int, *, keep_after: int | None = None, keep_since: datetime | None = None
) -> int:
    """`keep_after`: rows with a larger id are kept if received since `keep_since` (a relay target
    still needs them)."""
    t = webhook_log
    conditions = [t.c.received_at < cutoff]
    if keep_after is not None and keep_since is not None:
        conditions.append(or_(t.c.id <= keep_after, t.c.received_at < keep_since))
    ids = select(t.c.id).where(*conditions).limit(limit)
    return int(conn.execute(delete(webhook_log).where(webhook_log.c.id.in_(ids))).rowcount)


def listed(
    conn: Connection,
    *,
    since: datetime | None,
    log_id: int | None,
    failed_only: bool,
    unroutable_only: bool,
    after_id: int,
    limit: int,
) -> list[LoggedBody]:
    t = webhook_log
    conditions = [t.c.id > after_id]
    if since is not None:
        conditions.append(t.c.received_at >= since)
    if log_id is not None:
        conditions.append(t.c.id == log_id)
    if failed_only:
        conditions.append(t.c.failed.is_(True))
    if unroutable_only:
        conditions.append(t.c.unroutable.is_(True))
    rows = conn.execute(
        select(t.c.id, t.c.received_at, t.c.processed_at, t.c.outcome)
        .where(and_(*conditions))
        .order_by(t.c.id)
        .limit(limit)
    ).all()
    return [LoggedBody(int(r[0]), r[1], r[2], Outcome.from_json(r[3]) if r[3] is not None else None) for r in rows]


# -- the ack path and the apply queue (issues 12 and 21) -----------------------------------------------

# A body's `kind`, told by the ack: the apply claims customer bodies (messages, and anything else
# that is not only statuses) ahead of bodies holding only statuses of our own sends, each in id order
# (docs/decisions/0006). Only the order of applying depends on it, never what applying does.
KIND_CUSTOMER = 0
KIND_STATUSES = 1


@dataclass(frozen=True)
class Pending:
    """A logged body not applied yet, as the apply queue claims it."""

    id: int
    body: bytes
    signature: str | None
    received_at: datetime


_APPEND_RETURNING = insert(webhook_log).returning(webhook_log.c.id, sort_by_parameter_order=True)


def ids_of_hashes(conn: Connection, hashes: Iterable[str]) -> dict[str, int]:
    """The stored rows holding bodies with these sha256s (replays), by hash."""
    wanted = list(set(hashes))
    if not wanted:
        return {}
    raw = sqlite_driver(conn)
    if raw is not None:
        marks = ",".join("?" * len(wanted))
        found = raw.execute(f"SELECT body_sha256, id FROM webhook_log WHERE body_sha256 IN ({marks})", wanted)
        return {str(h): int(i) for h, i in found}
    t = webhook_log
    rows = conn.execute(select(t.c.body_sha256, t.c.id).where(t.c.body_sha256.in_(wanted)))
    return {str(h): int(i) for h, i in rows}


def append_many(
    conn: Connection, bodies: Sequence[tuple[bytes, str, str | None, int]], received_at: datetime
) -> list[int]:
    """Append (body, sha256, signature, kind) rows not applied yet, in one statement; their ids in order."""
    if not bodies:
        return []
    raw = sqlite_driver(conn)
    if raw is not None:
        # The ack's one statement, straight to the driver: SQLAlchemy's per-row binding and RETURNING
        # cost more than SQLite's insert. The table is AUTOINCREMENT and this transaction holds the
        # write lock, so the rows take consecutive ids ending at the last one inserted.
        at = sqlite_text(received_at)
        raw.executemany(
            "INSERT INTO webhook_log (body, body_sha256, signature, kind, received_at) VALUES (?, ?, ?, ?, ?)",
            [(body, digest, signature, kind, at) for body, digest, signature, kind in bodies],
        )
        last = int(raw.execute("SELECT last_insert_rowid()").fetchone()[0])
        return list(range(last - len(bodies) + 1, last + 1))
    values = [
        {"body": body, "body_sha256": digest, "signature": signature, "kind": kind, "received_at": received_at}
        for body, digest, signature, kind in bodies
    ]
    return [int(r[0]) for r in conn.execute(_APPEND_RETURNING, values)]


def claim_unprocessed(conn: Connection, limit: int, *, skip_locked: bool) -> list[Pending]:
    """The bodies to apply next: customer bodies first, then statuses only, each kind oldest first
    (an index scan of ix_webhook_log_unprocessed). With `skip_locked` (PostgreSQL) they stay locked
    until the transaction ends and rows another process holds are skipped, so two appliers never
    take the same body."""
    t = webhook_log
    query = (
        select(t.c.id, t.c.body, t.c.signature, t.c.received_at)
        .where(t.c.processed_at.is_(None))
        .order_by(t.c.kind, t.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [Pending(int(r[0]), bytes(r[1]), r[2], r[3]) for r in conn.execute(query)]


def claim_ids(conn: Connection, limit: int, *, skip_locked: bool) -> list[int]:
    """`claim_unprocessed` returning ids only, read from ix_webhook_log_unprocessed alone: the claim
    inside an apply transaction, whose bodies were read (and judged) before it took the lock."""
    t = webhook_log
    query = select(t.c.id).where(t.c.processed_at.is_(None)).order_by(t.c.kind, t.c.id).limit(limit)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [int(r[0]) for r in conn.execute(query)]


def pending_of(conn: Connection, ids: Sequence[int]) -> list[Pending]:
    """The rows `ids` as the apply reads them, in the order of `ids` (those gone are left out)."""
    if not ids:
        return []
    t = webhook_log
    query = select(t.c.id, t.c.body, t.c.signature, t.c.received_at).where(t.c.id.in_(list(ids)))
    found = {int(r[0]): Pending(int(r[0]), bytes(r[1]), r[2], r[3]) for r in conn.execute(query)}
    return [found[i] for i in ids if i in found]


def mark_many(conn: Connection, marks: Sequence[tuple[int, datetime, Outcome]]) -> None:
    """Mark the rows processed at their time with their outcome: one UPDATE … WHERE id IN (…) per
    distinct time and outcome. A batch marks its bodies at one time and most with the same outcome (a
    status applied), so a batch of 250 is one statement with one outcome encoded; a row each, bound with
    its own JSON, took a tenth of the apply's CPU under B7 (docs/benchmarks.md)."""
    groups: dict[tuple[datetime, Outcome], list[int]] = {}
    for log_id, at, outcome in marks:
        groups.setdefault((at, outcome), []).append(log_id)
    for (at, outcome), ids in groups.items():
        values = {"processed_at": at, **_outcome_values(outcome)}
        for part in in_lists(ids):
            conn.execute(_MARK_MANY, {"b_ids": part, **values})


class Applying:
    """One apply transaction on the main database, and the log rows it applies.

    Where the log is a table of the same database (PostgreSQL) the rows are claimed locked in that
    transaction and marked in it. Where it is a file of its own (SQLite) they are read from the log
    while this transaction holds the main database's write lock (so two appliers never apply the same
    rows at once) and marked in a short transaction on the log file right after the commit: a crash
    in between leaves them unmarked, and they are applied again after the restart, which changes
    nothing (a known wamid is a duplicate, R4; a status never moves back, R15)."""

    def __init__(self, db: Database, conn: Connection) -> None:
        self._db = db
        self.conn = conn
        self.marks: list[tuple[int, datetime, Outcome]] = []

    def claim(self, limit: int) -> list[int]:
        """The ids of the bodies this transaction applies: ids only, so the statement that takes
        them (and on PostgreSQL locks them) reads the index, not the bodies (`bodies`)."""
        if not self._db.log_apart:
            return claim_ids(self.conn, limit, skip_locked=self._db.is_postgres)
        with self._db.read() as conn:
            return claim_ids(conn, limit, skip_locked=False)

    def bodies(self, ids: Sequence[int]) -> list[Pending]:
        """The claimed rows `ids` whose bodies the caller has not read yet."""
        if not self._db.log_apart:
            return pending_of(self.conn, ids)
        with self._db.read() as conn:
            return pending_of(conn, ids)

    def mark(self, log_id: int, at: datetime, outcome: Outcome) -> None:
        self.marks.append((log_id, at, outcome))


@contextmanager
def applying(db: Database) -> Iterator[Applying]:
    """A write transaction that applies logged bodies; those given to `Applying.mark` are marked
    processed in it or, with the log in a file of its own, in a second one right after it commits."""
    with db.write() as conn:
        batch = Applying(db, conn)
        yield batch
        if not db.log_apart:
            mark_many(conn, batch.marks)
    if db.log_apart and batch.marks:
        mark_applied(db, batch.marks)


def mark_applied(db: Database, marks: Sequence[tuple[int, datetime, Outcome]]) -> None:
    """Mark logged bodies processed in a transaction of their own on the log."""
    with db.log.write() as conn:
        mark_many(conn, marks)


def backlog(conn: Connection) -> int:
    """How many logged bodies wait to be applied (read through ix_webhook_log_unprocessed)."""
    t = webhook_log
    return int(conn.execute(select(func.count()).select_from(t).where(t.c.processed_at.is_(None))).scalar() or 0)


def is_processed(conn: Connection, log_id: int) -> bool:
    t = webhook_log
    return conn.execute(select(t.c.processed_at).where(t.c.id == log_id)).scalar() is not None

"""Fast seeding for the benchmarks: a channel through the real service, then contacts and active
sessions by bulk insert (executemany on SQLite, COPY on PostgreSQL).

Every session row carries the schedule `wasession.domain.plan.plan` gives its last customer message
T. In exact mode each planned instant is T plus a constant, so the offsets are taken from one `plan`
call and then checked against `plan` for a sample of rows before anything is written.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wasession.config import Settings
from wasession.domain.clock import Clock
from wasession.domain.plan import NEW_SILENCE, plan
from wasession.domain.policy import Policy
from wasession.runtime import Runtime
from wasession.services.channels import NewChannel, create_channel
from wasession.store.channels import Channel
from wasession.store.secrets import SecretBox

# One key for the benchmark and every process it starts, so nothing writes a key file.
os.environ.setdefault("WASESSION_SECRET_KEY", SecretBox.generate_key())

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "1000001"
CHUNK = 50_000

SESSION_COLUMNS = (
    "id",
    "channel_id",
    "contact_id",
    "status",
    "opened_at",
    "last_customer_at",
    "last_message_at",
    "awaiting",
    "window_closes_at",
    "eligible_at",
    "closes_at",
    "reminder_state",
    "reminder_due_at",
    "due_at",
    "due_kind",
)
CONTACT_COLUMNS = ("id", "workspace_id", "wa_id", "profile_name", "created_at", "updated_at")


def runtime(database_url: str, clock: Clock | None = None) -> Runtime:
    rt = Runtime(Settings(database_url=database_url), clock=clock)
    rt.migrate()
    return rt


def add_channel(rt: Runtime, *, phone_number_id: str = PHONE_NUMBER_ID, app_secret: str = APP_SECRET) -> Channel:
    """An exact-mode channel with the default policy (24 h timeout), created by the service."""
    return create_channel(
        rt.ctx,
        NewChannel(
            name="bench",
            phone_number_id=phone_number_id,
            access_token="bench-token",
            app_secret=app_secret,
            verify_token="bench-verify",
            rate_limit_per_second=1000,
        ),
    )


@dataclass(frozen=True)
class Offsets:
    """plan() for exact mode, as constant offsets from T."""

    window: timedelta
    eligible: timedelta
    closes: timedelta
    due: timedelta
    due_kind: str
    reminder_state: str
    reminder: timedelta | None

    @classmethod
    def of(cls, policy: Policy) -> Offsets:
        if policy.closure_check is not None:
            raise ValueError("bulk seeding assumes exact mode (closure_check None)")
        t = datetime(2026, 1, 1, tzinfo=UTC)
        p = plan(last_customer_at=t, policy=policy, reminder_state=NEW_SILENCE, now=t)
        return cls(
            p.window_closes_at - t,
            p.eligible_at - t,
            p.closes_at - t,
            p.due_at - t,
            p.due_kind,
            p.reminder_state,
            None if p.reminder_due_at is None else p.reminder_due_at - t,
        )

    def check(self, policy: Policy, sample: Sequence[datetime]) -> None:
        for t in sample:
            p = plan(last_customer_at=t, policy=policy, reminder_state=NEW_SILENCE, now=t)
            mine = (t + self.window, t + self.eligible, t + self.closes, t + self.due, self.due_kind)
            theirs = (p.window_closes_at, p.eligible_at, p.closes_at, p.due_at, p.due_kind)
            if mine != theirs or p.reminder_state != self.reminder_state:
                raise AssertionError(f"seed offsets disagree with plan() at T={t}: {mine} != {theirs}")


def seed_sessions(rt: Runtime, channel: Channel, closes: Sequence[datetime]) -> list[int]:
    """One new contact and one active session per `closes` value (the session's closes_at).
    Returns the new session ids, in the order of `closes`."""
    offsets = Offsets.of(channel.policy)
    ts = [c - offsets.closes for c in closes]
    offsets.check(channel.policy, random.Random(7).sample(ts, min(len(ts), 200)))
    now = datetime.now(UTC)
    with rt.db.read() as conn:
        first_contact = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar() or 0) + 1
        first_session = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM sessions").scalar() or 0) + 1
    contacts = [
        (first_contact + i, channel.workspace_id, f"49{first_contact + i:010d}", f"Bench {first_contact + i}", now, now)
        for i in range(len(ts))
    ]
    sessions = [
        (
            first_session + i,
            channel.id,
            first_contact + i,
            "active",
            t,
            t,
            t,
            "agent",
            t + offsets.window,
            t + offsets.eligible,
            t + offsets.closes,
            offsets.reminder_state,
            None if offsets.reminder is None else t + offsets.reminder,
            t + offsets.due,
            offsets.due_kind,
        )
        for i, t in enumerate(ts)
    ]
    if rt.db.is_sqlite:
        _sqlite_insert(rt, contacts, sessions)
    else:
        _postgres_copy(rt, contacts, sessions)
    return [s[0] for s in sessions]


def _sqlite_value(v: object) -> object:
    # The store keeps SQLite datetimes as naive UTC text in SQLAlchemy's one format (compared as text).
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return v


def _sqlite_insert(rt: Runtime, contacts: list[tuple[object, ...]], sessions: list[tuple[object, ...]]) -> None:
    raw = rt.db.writer.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA cache_size=-400000")
        for table, columns, rows in (("contacts", CONTACT_COLUMNS, contacts), ("sessions", SESSION_COLUMNS, sessions)):
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            for start in range(0, len(rows), CHUNK):
                cur.execute("BEGIN")
                cur.executemany(sql, [tuple(_sqlite_value(v) for v in r) for r in rows[start : start + CHUNK]])
                cur.execute("COMMIT")
        cur.execute("ANALYZE")
        cur.close()
    finally:
        raw.close()


def _pg_text(v: object) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def _postgres_copy(rt: Runtime, contacts: list[tuple[object, ...]], sessions: list[tuple[object, ...]]) -> None:
    raw = rt.db.writer.raw_connection()
    try:
        cur = raw.cursor()
        for table, columns, rows in (("contacts", CONTACT_COLUMNS, contacts), ("sessions", SESSION_COLUMNS, sessions)):
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for start in range(0, len(rows), CHUNK):
                    chunk = rows[start : start + CHUNK]
                    copy.write("".join("\t".join(_pg_text(v) for v in r) + "\n" for r in chunk))
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
        cur.execute("ANALYZE contacts")
        cur.execute("ANALYZE sessions")
        raw.commit()
        cur.close()
    finally:
        raw.close()


def background_closes(n: int, start: datetime, *, spread: timedelta = timedelta(hours=20)) -> list[datetime]:
    """`n` closing times spread at random over [start, start + spread), so none falls due in a run."""
    rng = random.Random(42)
    seconds = spread.total_seconds()
    return [start + timedelta(seconds=rng.random() * seconds) for _ in range(n)]


def evenly(n: int, start: datetime, over: timedelta) -> list[datetime]:
    """`n` instants evenly spaced over [start, start + over)."""
    step = over / n
    return [start + step * i for i in range(n)]

"""B3: due-claim cost against the number of active sessions, and against a cron-style full sweep.

Two databases: SMALL active sessions all due, and LARGE active sessions of which DUE are due. The
real DueWorker (batch claim on the due_at index, re-check, close) runs on a manual clock set just
after those sessions fell due; its time on the large database must be at most 2x its time on the
small one. Then, in the same run on the large database, a sweep the way a scheduled job evaluates:
load every active session, evaluate each one's rules in Python (`domain.plan` from its last customer
message and the policy: a cron job keeps no due time), close the due ones with the engine's own
batched writes. A second set of DUE sessions falls due for the sweep, so both close the same number.

Targets: ratio large/small <= 2; sweep / engine >= 100 on the large database.
"""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util
from sqlalchemy import select

from wasession.domain.clock import ManualClock
from wasession.domain.plan import plan
from wasession.lifecycle import session_writes
from wasession.runtime import Runtime
from wasession.store.channels import Channel
from wasession.store.schema import sessions
from wasession.store.sessions import SessionRow, claim_due

X = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)  # the engine's "now"
SWEEP_AT = X + timedelta(minutes=30)


def seed(url: str, active: int, due: int, *, second_set: bool) -> tuple[Runtime, Channel]:
    """`due` sessions due at X; with `second_set`, `due` more due at SWEEP_AT; the rest not due."""
    rt = _seed.runtime(url, ManualClock(X - timedelta(hours=1)))
    channel = _seed.add_channel(rt)
    closes = _seed.evenly(due, X - timedelta(seconds=60), timedelta(seconds=59))
    if second_set:
        closes += _seed.evenly(due, X + timedelta(minutes=10), timedelta(seconds=59))
    background = active - len(closes)
    closes += _seed.background_closes(background, X + timedelta(hours=1))
    t = time.monotonic()
    _seed.seed_sessions(rt, channel, closes)
    _util.log(f"seeded {active:,} active sessions in {time.monotonic() - t:.1f} s")
    return rt, channel


def find_only(rt: Runtime, due: int) -> float:
    """The engine's claim query alone (nothing changed): how long finding the due sessions takes."""
    t = time.perf_counter()
    with rt.db.read() as conn:
        found = claim_due(conn, X, due)
    took = time.perf_counter() - t
    assert len(found) == due, f"claim query found {len(found)}, expected {due}"
    return took


def engine(rt: Runtime) -> tuple[float, int]:
    assert isinstance(rt.clock, ManualClock)
    rt.clock.set(X)
    # Built before the clock starts: the runtime imports its workers' modules on first use (B6's
    # start-up), and the first database's figure timed that import (~0.1 s), not the claim.
    worker = rt.due
    t = time.perf_counter()
    result = worker.run_due()
    return time.perf_counter() - t, result.closed


def sweep(rt: Runtime, channel: Channel, now: datetime) -> tuple[float, float, int, int]:
    """The cron way: every active session into memory, each one's rules evaluated in Python, the
    due ones closed (in one batch, with the engine's own batched writes). A scheduled job keeps no
    due time, so it works out each session's closing time from its last customer message and the
    channel's policy: `domain.plan`, the same pure function ingest uses to set `due_at`.
    Returns (total time, time to find the due ones, active sessions loaded, sessions closed)."""
    t = time.perf_counter()
    with rt.db.write() as conn:
        rows = [SessionRow(**r) for r in conn.execute(select(sessions).where(sessions.c.status == "active")).mappings()]
        due = [
            s
            for s in rows
            if now
            >= plan(
                last_customer_at=s.last_customer_at,
                policy=channel.policy,
                reminder_state=s.reminder_state,
                now=now,
                window_closed_early_at=s.window_closed_early_at,
            ).closes_at
        ]
        found = time.perf_counter() - t
        writes = session_writes.SessionWrites()
        for s in due:
            writes.close(channel, s, now, "timeout")
        writes.flush(conn)
    return time.perf_counter() - t, found, len(rows), len(due)


def closed_count(rt: Runtime) -> int:
    with rt.db.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM sessions WHERE status = 'closed'").scalar() or 0)


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch schema is used); default SQLite")
    args = parser.parse_args()
    small, large, due = (1_000, 50_000, 1_000) if args.quick else (10_000, 1_000_000, 10_000)
    _util.header("B3 due-claim scaling", args)
    with _util.temp_dir() as d:
        for label, active, second in (("small", small, False), ("large", large, True)):
            cm = (
                _util.postgres_url(args.database_url)
                if args.database_url
                else contextlib.nullcontext(_util.sqlite_url(d, f"{label}.sqlite3"))
            )
            with cm as url:
                rt, channel = seed(url, active, due, second_set=second)
                try:
                    t_find = find_only(rt, due)
                    took, closed = engine(rt)
                    if closed != due or closed_count(rt) != due:
                        raise SystemExit(f"engine closed {closed} (store says {closed_count(rt)}), expected {due}")
                    print(
                        f"engine: {active:>9,} active, {due:,} due: claimed and closed in {took:.3f} s"
                        f"  ({due / took:,.0f}/s; the claim query alone {t_find:.3f} s)  load={_util.loadavg()}",
                        flush=True,
                    )
                    if label == "small":
                        t_small = took
                        continue
                    t_large, find_large = took, t_find
                    rt.clock.set(SWEEP_AT)  # type: ignore[attr-defined]
                    t_sweep, find_sweep, loaded, swept = sweep(rt, channel, SWEEP_AT)
                    if swept != due:
                        raise SystemExit(f"sweep closed {swept}, expected {due}")
                    print(
                        f"sweep:  {loaded:>9,} active loaded, {swept:,} due closed in {t_sweep:.3f} s"
                        f"  (loading and evaluating alone {find_sweep:.3f} s)  load={_util.loadavg()}",
                        flush=True,
                    )
                finally:
                    rt.stop()
    ratio, speedup = t_large / t_small, t_sweep / t_large
    print(f"ratio large/small = {ratio:.2f} (target <= 2)")
    print(f"sweep/engine = {speedup:.1f}x (target >= 100x)")
    print(f"finding the due sessions only (no closing): sweep/claim query = {find_sweep / find_large:.0f}x")
    return _util.verdict("B3", ratio <= 2 and speedup >= 100, args.quick)


if __name__ == "__main__":
    sys.exit(main())

"""B2: closure lag in exact mode with 1,000,000 active sessions, 10,000 falling due within a minute.

The real engine runs: a Runtime on the system clock with its loops (`start_workers`, as `serve` and
`worker` do). The 10,000 sessions are inserted just before the engine starts, their closes_at
evenly spread over one minute starting a few seconds later; the rest close hours away.

Two lags per session: stored (closed_at - closes_at; closed_at is the clock reading of the batch
that closed it) and visible (when a separate reader first saw the session closed, polling every
50 ms, minus closes_at: this includes the batch's commit). Target: p99 <= 1 s for both.
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

from wasession.store.schema import sessions

LEAD = timedelta(seconds=5)
POLL = 0.05


def run(url: str, active: int, due: int, over: timedelta) -> tuple[list[float], list[float]]:
    rt = _seed.runtime(url)
    try:
        channel = _seed.add_channel(rt)
        t = time.monotonic()
        _seed.seed_sessions(rt, channel, _seed.background_closes(active - due, datetime.now(UTC) + timedelta(hours=2)))
        _util.log(f"seeded {active - due:,} background sessions in {time.monotonic() - t:.1f} s")
        first = datetime.now(UTC) + LEAD
        ids = _seed.seed_sessions(rt, channel, _seed.evenly(due, first, over))
        lo, hi = ids[0], ids[-1]
        rt.start_workers()
        _util.log(f"engine started; {due:,} sessions fall due from {first:%H:%M:%S} over {over.total_seconds():.0f} s")
        seen: dict[int, datetime] = {}
        deadline = time.monotonic() + (first - datetime.now(UTC) + over).total_seconds() + 60
        query = select(sessions.c.id).where(sessions.c.id.between(lo, hi), sessions.c.status == "closed")
        while len(seen) < due and time.monotonic() < deadline:
            with rt.db.read() as conn:
                found = conn.execute(query).scalars().all()
            at = datetime.now(UTC)
            for sid in found:
                seen.setdefault(int(sid), at)
            time.sleep(POLL)
        with rt.db.read() as conn:
            rows = conn.execute(
                select(sessions.c.id, sessions.c.closes_at, sessions.c.closed_at).where(sessions.c.id.between(lo, hi))
            ).all()
    finally:
        rt.stop()
    not_closed = [r.id for r in rows if r.closed_at is None]
    if not_closed:
        raise SystemExit(f"{len(not_closed)} of {due} sessions were not closed within a minute of the last due time")
    stored = [(r.closed_at - r.closes_at).total_seconds() for r in rows]
    visible = [(seen[r.id] - r.closes_at).total_seconds() for r in rows]
    return stored, visible


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch schema is used); default SQLite")
    parser.add_argument("--sessions", type=int, default=None, help="active sessions (default 1,000,000)")
    parser.add_argument("--due", type=int, default=None, help="of which fall due within the run (default 10,000)")
    args = parser.parse_args()
    quick = (20_000, 1_000, timedelta(seconds=10))
    active, due, over = quick if args.quick else (1_000_000, 10_000, timedelta(minutes=1))
    active, due = args.sessions or active, args.due or due
    _util.header("B2 closure lag", args)
    with _util.temp_dir() as d:
        cm = _util.postgres_url(args.database_url) if args.database_url else contextlib.nullcontext(_util.sqlite_url(d))
        with cm as url:
            backend = "postgresql" if args.database_url else "sqlite"
            stored, visible = run(url, active, due, over)
    ok = True
    for label, lags in (("stored  closed_at - closes_at", stored), ("visible seen - closes_at   ", visible)):
        p50, p99, worst = (_util.percentile(lags, q) for q in (50, 99, 100))
        ok = ok and p99 <= 1.0
        print(
            f"{backend} {label}: p50 {p50 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  max {worst * 1000:.0f} ms"
            f"  (n={len(lags):,}, {active:,} active)"
        )
    print("target: p99 <= 1000 ms")
    return _util.verdict("B2", ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())

"""B9: the chat list at 100,000 active sessions (SQLite): the first page in the default order
(window closing soonest), the next page, and a search, against the floor of the same rows read by
one bare SQL query (no counts, no preview, no Python summaries).

The service's page also counts the matching sessions and the page's position ("1-50 of 100,000")
and reads each row's newest message for the preview; the ratio says what those cost.

    .venv/bin/python bench/chat_list.py [--quick]

Target: the first and the next page within 250 ms on a 2-core machine (the median of the runs). The
search is reported, not judged: it reads every contact's name (LIKE '%…%' has no index), twice
(the page and the count).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.domain.clock import ManualClock
from wasession.runtime import Runtime
from wasession.services import queries as query_service

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
PAGE = 50
TARGET = 0.25
SEARCH = "Bench 4242"  # a name part that several contacts share (4242, 14242, 42420, …)

FLOOR_FIRST = """
SELECT sessions.*, channels.name, contacts.* FROM sessions
JOIN channels ON channels.id = sessions.channel_id JOIN contacts ON contacts.id = sessions.contact_id
WHERE channels.workspace_id = :ws AND sessions.status = 'active' AND sessions.window_closes_at > :now
ORDER BY sessions.window_closes_at, sessions.id LIMIT 51
"""
FLOOR_SEARCH = """
SELECT sessions.*, channels.name, contacts.* FROM sessions
JOIN channels ON channels.id = sessions.channel_id JOIN contacts ON contacts.id = sessions.contact_id
WHERE channels.workspace_id = :ws AND sessions.status = 'active' AND sessions.window_closes_at > :now
AND sessions.contact_id IN (SELECT id FROM contacts WHERE profile_name LIKE :q)
ORDER BY sessions.window_closes_at, sessions.id LIMIT 51
"""


def seed(url: str, active: int) -> tuple[Runtime, int]:
    rt = _seed.runtime(url, ManualClock(NOW))
    channel = _seed.add_channel(rt)
    # Windows still open, closing over the next 20 hours (the default 24 h timeout: closes_at = window).
    t = time.monotonic()
    ids = _seed.seed_sessions(rt, channel, _seed.background_closes(active, NOW + timedelta(minutes=1)))
    _seed_messages(rt, channel.id, ids)
    _util.log(f"seeded {active:,} active sessions with a message each in {time.monotonic() - t:.1f} s")
    return rt, channel.workspace_id


def _seed_messages(rt: Runtime, channel_id: int, session_ids: list[int]) -> None:
    raw = rt.db.writer.raw_connection()
    try:
        cur = raw.cursor()
        stamp = _seed._sqlite_value(NOW - timedelta(hours=4))
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO messages (session_id, channel_id, direction, kind, type, body, sent_at, created_at, status, "
            "attempts) VALUES (?, ?, 'in', 'customer', 'text', ?, ?, ?, 'received', 0)",
            [(sid, channel_id, f"hello from customer {sid}", stamp, stamp) for sid in session_ids],
        )
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
        cur.close()
    finally:
        raw.close()


def median_time(run: Callable[[], object], repeat: int) -> float:
    run()  # warm the page cache and the statement cache
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    args = _util.base_parser(__doc__.splitlines()[0]).parse_args()
    _util.header("B9 chat list", args)
    active, repeat = (5_000, 5) if args.quick else (100_000, 15)
    ok = True
    with _util.temp_dir() as folder:
        rt, ws = seed(_util.sqlite_url(folder), active)
        try:
            ctx = rt.ctx
            first = query_service.list_sessions(ctx, workspace_id=ws, status="active", sort="window", limit=PAGE)
            assert first.total == active and first.start == 1 and len(first.items) == PAGE, first.total
            found = query_service.list_sessions(ctx, workspace_id=ws, status="active", sort="window", search=SEARCH)
            print(f"  {active:,} active sessions; the search {SEARCH!r} matches {found.total}")
            floor_params = {"ws": ws, "now": _seed._sqlite_value(NOW)}

            def bare(sql: str, **extra: object) -> Callable[[], object]:
                def run() -> object:
                    with rt.db.read() as conn:
                        return conn.exec_driver_sql(
                            sql.replace(":ws", "?").replace(":now", "?").replace(":q", "?"),
                            tuple([*floor_params.values(), *extra.values()]),
                        ).fetchall()

                return run

            cases = {
                "first page": (
                    lambda: query_service.list_sessions(
                        ctx, workspace_id=ws, status="active", sort="window", limit=PAGE
                    ),
                    bare(FLOOR_FIRST),
                ),
                "next page": (
                    lambda: query_service.list_sessions(
                        ctx, workspace_id=ws, status="active", sort="window", limit=PAGE, cursor=first.next_cursor
                    ),
                    bare(FLOOR_FIRST),
                ),
                "search": (
                    lambda: query_service.list_sessions(
                        ctx, workspace_id=ws, status="active", sort="window", limit=PAGE, search=SEARCH
                    ),
                    bare(FLOOR_SEARCH, q=f"%{SEARCH}%"),
                ),
            }
            for name, (service, floor) in cases.items():
                took = median_time(service, repeat)
                bottom = median_time(floor, repeat)
                ok = ok and (took <= TARGET or name == "search")
                print(
                    f"  {name:<11} service {_util.fmt_ms(took):>10}   floor (bare SQL) {_util.fmt_ms(bottom):>10}"
                    f"   ratio {took / bottom:5.1f}   load {_util.loadavg()}",
                    flush=True,
                )
        finally:
            rt.db.dispose()
    return _util.verdict(f"B9 first and next page <= {TARGET * 1000:.0f} ms", ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark B4, second part: a large number of reminders due in the same hour, all sent inside
their customers' 24-hour windows.

N active sessions are stored (bulk seeding, bench/_seed.py) on an exact-mode channel whose policy
sends the reminder 23 hours after the customer's last message, leaving one hour of window. Their
reminders fall due spread over `--spread` seconds starting a few seconds from now (default: all
within one minute, the hardest case of "due in the same hour"). Then the real engine runs as in
`serve` or `worker` (`Runtime.start_workers` on the system clock: the due loop queues each reminder,
the sender delivers it at the channel's 1,000/s limit) against the fake Cloud API over real HTTP in
its own process, until the fake has accepted all N.

From the fake's acceptance times it reports the rate, the lag from each reminder's due time to its
arrival at the fake, and the smallest margin left before a customer's window closed. PASSES when
every reminder arrived exactly once and inside its window.

    python bench/reminder_backlog.py                 # 1,000,000 reminders (about 20 minutes)
    python bench/reminder_backlog.py --count 100000  # a tenth
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import _seed
from _util import percentile
from send_throughput import _start_fake, bench_channel


def run(count: int, spread: float, limit: int) -> int:
    from wasession.config import Settings
    from wasession.domain.clock import SystemClock
    from wasession.runtime import Runtime
    from wasession.store.secrets import SecretBox

    fake, base = _start_fake()
    tmp = Path(tempfile.mkdtemp(prefix="wasession-backlog-"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'bench.sqlite3'}", secret_key=SecretBox.generate_key())
    rt = Runtime(settings, clock=SystemClock())
    try:
        rt.migrate()
        channel = bench_channel(rt, base, limit, reminder_after_hours=23)
        offsets = _seed.Offsets.of(channel.policy)
        assert offsets.reminder is not None and offsets.due_kind == "remind"
        t0 = time.monotonic()
        first_due = datetime.now(UTC) + timedelta(seconds=20)
        due = [first_due + timedelta(seconds=spread * i / count) for i in range(count)]
        wrote = [d - offsets.reminder for d in due]
        ids = _seed.seed_sessions(rt, channel, [t + offsets.closes for t in wrote])
        print(f"seeded {len(ids):,} sessions in {time.monotonic() - t0:.1f} s; first reminder due {first_due:%H:%M:%S}")
        contacts = _contacts(rt, ids)
        window_closes = {f"+49{c:010d}": t + offsets.window for c, t in zip(contacts, wrote, strict=True)}
        due_of = {to: closes - offsets.window + offsets.reminder for to, closes in window_closes.items()}

        engine_started = datetime.now(UTC)
        rt.start_workers()
        deadline = time.monotonic() + count / limit * 3 + 300
        accepted = 0
        while time.monotonic() < deadline and accepted < count:
            time.sleep(5)
            accepted = httpx.get(base + "/_bench/count", timeout=30).json()["count"]
            print(f"  {datetime.now(UTC):%H:%M:%S} accepted {accepted:,}", flush=True)
        data = httpx.get(base + "/_bench/accepted", params={"detail": 1}, timeout=120).json()
    finally:
        rt.stop()
        fake.terminate()
        fake.wait(10)

    sent_at = [datetime.fromtimestamp(t, UTC) for t in data["sent_at"]]
    to_list: list[str] = data["to_list"]
    times = sorted(data["sent_at"])
    whole = int(times[-1] - times[0]) if times else 0
    buckets = [bisect_left(times, times[0] + k + 1) - bisect_left(times, times[0] + k) for k in range(whole)]
    busiest = max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
    arrivals = [(to, at) for to, at in zip(to_list, sent_at, strict=True) if to in window_closes]
    # Seeding a million rows takes about a minute, so the first reminders may be due before the
    # engine starts; lag counts from the later of the two.
    lags = sorted((at - max(due_of[to], engine_started)).total_seconds() for to, at in arrivals)
    margins = [(window_closes[to] - at).total_seconds() for to, at in arrivals]
    unknown = [to for to in to_list if to not in window_closes]
    figures = {
        "reminders due": count,
        "accepted by the fake": len(to_list),
        "distinct recipients": len(set(to_list)),
        "due spread (s)": spread,
        "already due when the engine started": sum(1 for d in due_of.values() if d <= engine_started),
        "sending took (s)": round(times[-1] - times[0], 1) if times else 0,
        "mean rate (whole seconds)": round(sum(buckets) / len(buckets), 1) if buckets else 0,
        "busiest one-second window": busiest,
        "lag due (or engine start) -> at Meta p50 / p99 / max (s)": (
            " / ".join(f"{percentile(lags, q):.1f}" for q in (50, 99, 100)) if lags else "-"
        ),
        "smallest margin before the window closed (s)": round(min(margins), 1) if margins else "-",
        "sent outside the window": sum(1 for m in margins if m <= 0),
    }
    for key, value in figures.items():
        print(f"{key:>46}: {value}")
    ok = (
        len(to_list) == count == len(set(to_list))
        and not unknown
        and figures["sent outside the window"] == 0
        and busiest <= limit
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _contacts(rt: object, session_ids: list[int]) -> list[int]:
    """The contact id of each seeded session, in order (the seed gives contact n the wa_id 49n)."""
    from sqlalchemy import select

    from wasession.store.schema import sessions

    db = rt.db  # type: ignore[attr-defined]
    with db.read() as conn:
        found = dict(conn.execute(select(sessions.c.id, sessions.c.contact_id)).all())
    return [found[i] for i in session_ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the reminders fall due")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="5,000 reminders (CI)")
    args = parser.parse_args()
    return run(5000 if args.quick else args.count, args.spread, args.limit)


if __name__ == "__main__":
    sys.exit(main())

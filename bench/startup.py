"""B6: start-up of `wasession serve` on an existing database until /readyz answers 200.

The database is seeded once (a channel and SESSIONS active sessions); then `wasession serve
--no-sandbox` is started RUNS times, each time from process spawn to the first 200 from /readyz.
Target: median <= 2 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed  # noqa: E402
import _util  # noqa: E402

RUNS = 5


def start_once(url: str) -> float:
    port = _util.free_port()
    env = {**os.environ, "WASESSION_DATABASE_URL": url}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [_util.WASESSION, "serve", "--no-sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return ready - t0


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch schema is used); default SQLite")
    parser.add_argument("--sessions", type=int, default=None, help="active sessions in the database")
    args = parser.parse_args()
    n = args.sessions if args.sessions is not None else (1_000 if args.quick else 1_000_000)
    runs = 2 if args.quick else RUNS
    _util.header("B6 start-up", args)
    with _util.temp_dir() as d:
        cm = _util.postgres_url(args.database_url) if args.database_url else contextlib.nullcontext(_util.sqlite_url(d))
        with cm as url:
            rt = _seed.runtime(url)
            try:
                channel = _seed.add_channel(rt)
                _seed.seed_sessions(rt, channel, _seed.background_closes(n, datetime.now(UTC) + timedelta(hours=2)))
            finally:
                rt.stop()
            times = []
            for i in range(runs):
                took = start_once(url)
                times.append(took)
                print(f"run {i + 1}: ready in {took:.2f} s  load={_util.loadavg()}", flush=True)
    median = statistics.median(times)
    print(f"median of {runs}: {median:.2f} s with {n:,} active sessions (target <= 2 s)")
    return _util.verdict("B6", median <= 2.0, args.quick)


if __name__ == "__main__":
    sys.exit(main())

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

import _seed
import _util

RUNS = 5


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(url: str) -> tuple[float, float]:
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
        cpu = cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return ready - t0, cpu


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
            times, cpus = [], []
            for i in range(runs):
                took, cpu = start_once(url)
                times.append(took)
                cpus.append(cpu)
                print(
                    f"run {i + 1}: ready in {took:.2f} s (server CPU {cpu:.2f} s)  load={_util.loadavg()}", flush=True
                )
    median = statistics.median(times)
    print(
        f"median of {runs}: {median:.2f} s wall, {statistics.median(cpus):.2f} s server CPU, "
        f"with {n:,} active sessions (target <= 2 s wall)"
    )
    return _util.verdict("B6", median <= 2.0, args.quick)


if __name__ == "__main__":
    sys.exit(main())

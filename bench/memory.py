"""B5: resident memory of `wasession worker` with SMALL vs LARGE active sessions.

For each size a database is seeded (a channel and that many active sessions, none due during the
run), `wasession worker` is started on it, and once its engine has run a few iterations (SETTLE
seconds: the due loop wakes at least once a second) VmRSS is read from /proc/<pid>/status.
Target: RSS(large) - RSS(small) <= 50 MB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

SETTLE = 6.0


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def measure(url: str, active: int) -> tuple[int, int]:
    rt = _seed.runtime(url)
    try:
        channel = _seed.add_channel(rt)
        _seed.seed_sessions(rt, channel, _seed.background_closes(active, datetime.now(UTC) + timedelta(hours=2)))
    finally:
        rt.stop()
    proc = subprocess.Popen(
        [_util.WASESSION, "worker"],
        env={**os.environ, "WASESSION_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the worker says so once its loops are running
            if "running" in line:
                break
        else:
            raise SystemExit(f"the worker exited ({proc.wait()}) before starting its engine")
        # Keep draining its log so a full pipe never blocks it.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        time.sleep(SETTLE)
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}) while settling")
        return rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch schema is used); default SQLite")
    args = parser.parse_args()
    small, large = (1_000, 20_000) if args.quick else (10_000, 1_000_000)
    _util.header("B5 worker memory", args)
    results = {}
    with _util.temp_dir() as d:
        for active in (small, large):
            cm = (
                _util.postgres_url(args.database_url)
                if args.database_url
                else contextlib.nullcontext(_util.sqlite_url(d, f"m{active}.sqlite3"))
            )
            with cm as url:
                rss, hwm = measure(url, active)
            results[active] = rss
            print(
                f"worker with {active:>9,} active sessions: VmRSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)"
                f"  load={_util.loadavg()}",
                flush=True,
            )
    growth = (results[large] - results[small]) / 1024
    print(f"growth {growth:.1f} MiB (target <= 50 MB)")
    return _util.verdict("B5", growth <= 50, args.quick)


if __name__ == "__main__":
    sys.exit(main())

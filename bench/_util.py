"""Helpers shared by the benchmarks: ports, waiting for a URL, percentiles, scratch databases, verdicts."""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
WASESSION = str(ROOT / ".venv" / "bin" / "wasession")
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_url(url: str, *, timeout: float = 30.0, status: int = 200, interval: float = 0.01) -> float:
    """Poll until `url` answers `status`; returns the monotonic time it did."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                if client.get(url).status_code == status:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer {status} within {timeout} s")
            time.sleep(interval)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"nproc={os.cpu_count()} mem={mem_kb // 1024} MiB python={platform.python_version()}"


def header(name: str, args: argparse.Namespace) -> None:
    mode = "quick" if getattr(args, "quick", False) else "full"
    print(f"== {name} ({mode})  {machine()}  load={loadavg()}", flush=True)


def verdict(name: str, ok: bool, quick: bool) -> int:
    """Print PASS/FAIL; the exit status fails only a full run (quick runs only guard against rot)."""
    print(f"{name}: {'PASS' if ok else 'FAIL'}" + ("  (quick mode: sizes too small to judge)" if quick else ""))
    print(f"load average at end: {loadavg()}", flush=True)
    return 0 if ok or quick else 1


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s), for CI")
    return parser


@contextmanager
def temp_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="wasession-bench-") as d:
        yield Path(d)


def sqlite_url(directory: Path, name: str = "bench.sqlite3") -> str:
    return f"sqlite:///{directory / name}"


@contextmanager
def postgres_url(server_url: str) -> Iterator[str]:
    """A URL on `server_url` whose connections use a new, empty schema, dropped afterwards."""
    import psycopg

    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`wasession serve --no-sandbox` on `port` with `env`, its output discarded; prints its pid."""
    server = subprocess.Popen(
        [WASESSION, "serve", "--no-sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_SERVE_STDERR") else subprocess.DEVNULL,
    )
    print(f"server pid {server.pid} (profile it with: py-spy record -p {server.pid})", flush=True)
    return server


def stop_serve(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

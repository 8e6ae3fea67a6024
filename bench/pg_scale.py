"""B8: PostgreSQL, one `wasession serve` process against two, under the same offered load.

Each configuration gets a fresh schema (`wasession migrate`) with one channel (`wasession channels add`), then N serve
processes on N ports of the same database. The load generator is B1's client (signed unique
customer messages over keep-alive HTTP/1.1, 10,000 contacts), closed loop: the same number of
connections in both configurations, split evenly over the ports. After a warm-up, throughput is
measured over --seconds. Target: two processes >= 1.7 x one.

    python bench/pg_scale.py            # 30 s per configuration
    python bench/pg_scale.py --quick    # 5 s per configuration
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util
import ingest  # B1's client


def start_servers(url: str, n: int) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    env = {**os.environ, "WASESSION_DATABASE_URL": url}
    servers, ports = [], []
    for _ in range(n):
        port = _util.free_port()
        servers.append(_util.start_serve(env, port))
        ports.append(port)
    for port in ports:
        _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=60)
    return servers, ports


def stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for s in servers:
        s.send_signal(signal.SIGTERM)
    for s in servers:
        try:
            s.wait(30)
        except subprocess.TimeoutExpired:
            s.kill()


async def load(ports: list[int], reqs: list[ingest.Requests], connections: int, seconds: float) -> tuple[int, float]:
    """Closed loop on every port at once, `connections` split evenly; (answered 200, elapsed)."""
    per_port = max(1, connections // len(ports))
    runs = await asyncio.gather(
        *(
            ingest.closed_loop(port, r.build(int(3_000 * seconds / len(ports)) + 1000), per_port, seconds)
            for port, r in zip(ports, reqs, strict=True)
        )
    )
    errors = {k: v for tally, _ in runs for k, v in tally.errors.items()}
    if errors:
        _util.log(f"non-200 answers: {errors}")
    return sum(t.ok for t, _ in runs), max(e for _, e in runs)


def measure(server_url: str, n: int, connections: int, seconds: float, contacts: int) -> float:
    with _util.postgres_url(server_url) as url:
        env = {**os.environ, "WASESSION_DATABASE_URL": url}
        subprocess.run([_util.WASESSION, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [_util.WASESSION, "channels", "add", "--skip-token-check", "--name", "bench",
         "--phone-number-id", _seed.PHONE_NUMBER_ID,
             "--access-token", "bench-token", "--app-secret", _seed.APP_SECRET, "--verify-token", "bench-verify"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        servers, ports = start_servers(url, n)
        try:
            reqs = [ingest.Requests(f"127.0.0.1:{p}", contacts) for p in ports]
            asyncio.run(load(ports, reqs, connections, min(5.0, seconds)))  # warm-up: contacts and sessions exist
            ok, elapsed = asyncio.run(load(ports, reqs, connections, seconds))
        finally:
            stop(servers)
    rate = ok / elapsed
    print(f"{n} serve process(es), {connections} connections: {rate:,.0f} msg/s over {elapsed:.1f} s  "
          f"load={_util.loadavg()}", flush=True)  # fmt: skip
    return rate


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--postgres", default=_util.DEFAULT_PG, help="PostgreSQL server URL")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per configuration")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    contacts = 1_000 if args.quick else 10_000
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    _util.header("B8 PostgreSQL scale-out", args)
    one = measure(args.postgres, 1, args.connections, seconds, contacts)
    two = measure(args.postgres, 2, args.connections, seconds, contacts)
    ratio = two / one if one else 0.0
    print(f"two processes / one: {ratio:.2f}x (target >= 1.7x)")
    return _util.verdict("B8", ratio >= 1.7, args.quick)


if __name__ == "__main__":
    sys.exit(main())

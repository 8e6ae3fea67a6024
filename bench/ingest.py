"""B1: ingest of signed single-message webhooks over real HTTP into `wasession serve` on SQLite.

The server runs in its own process (`wasession serve --no-sandbox` on a fresh SQLite file with one
channel created by `wasession channels add`). This process is the load generator: a small
asyncio HTTP/1.1 keep-alive client (uvloop) whose requests are built before each phase, each body a
unique text message from one of CONTACTS customers, signed with HMAC-SHA256 under the channel's app
secret exactly as Meta signs it.

Phases: a short warm-up (not measured); a fixed-rate phase at 1,000/s, open loop, latency measured
from each request's scheduled time (so a stalled server cannot hide queueing); a sustained phase,
closed loop with many connections, for 60 s. Afterwards the stored messages are counted.
Targets: sustained >= 2,000 msg/s over 60 s; at 1,000/s p50 <= 25 ms and p99 <= 250 ms.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.sandbox.bodies import new_wamid, text_message_body

_serial = count()


class Requests:
    """Pre-built signed POSTs, unique messages cycling over `contacts` customers."""

    def __init__(self, host: str, contacts: int) -> None:
        self.host = host
        self.contacts = contacts

    def build(self, n: int) -> list[bytes]:
        out = []
        now = datetime.now(UTC)
        secret = _seed.APP_SECRET.encode()
        for _ in range(n):
            i = next(_serial)
            contact = i % self.contacts
            wa_id = f"49{contact:010d}"
            body = json.dumps(
                text_message_body(
                    phone_number_id=_seed.PHONE_NUMBER_ID,
                    wa_id=wa_id,
                    name=f"Customer {contact}",
                    text=f"message {i}",
                    timestamp=now,
                    wamid=new_wamid(wa_id),
                )
            ).encode()
            signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            out.append(
                (
                    f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                    f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
        return out


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status


async def connect(port: int, n: int) -> list[Connection]:
    conns = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conns.append(Connection(reader, writer))
    return conns


class Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.errors: dict[int, int] = {}
        self.latencies: list[float] = []
        self.done_at: list[float] = []
        self.abandoned = 0  # unanswered when the phase ended (the server may still store them)

    def add(self, status: int, latency: float, at: float) -> None:
        if status == 200:
            self.ok += 1
        else:
            self.errors[status] = self.errors.get(status, 0) + 1
        self.latencies.append(latency)
        self.done_at.append(at)


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> tuple[Tally, float]:
    """As fast as the server answers, `connections` at a time, for `seconds` (or until requests run out)."""
    conns = await connect(port, connections)
    tally = Tally()
    it = iter(requests)
    start = time.monotonic()
    stop = start + seconds

    async def worker(conn: Connection) -> None:
        for request in it:
            t = time.monotonic()
            if t >= stop:
                return
            status = await conn.post(request)
            done = time.monotonic()
            tally.add(status, done - t, done - start)

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.monotonic() - start
    for c in conns:
        c.writer.close()
    return tally, elapsed


async def fixed_rate(port: int, requests: list[bytes], rate: float, connections: int, grace: float) -> Tally:
    """Open loop: request i is due at start + i / rate whatever happened before; its latency counts
    from that moment, including any wait for a free connection. Requests still unanswered `grace`
    seconds after the last was due are abandoned and counted with their latency so far (a lower
    bound), so a server far slower than the rate cannot stretch the phase without end."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for c in await connect(port, connections):
        pool.put_nowait(c)
    tally = Tally()
    start = time.monotonic()

    async def one(i: int, request: bytes) -> None:
        conn = await pool.get()
        try:
            status = await conn.post(request)
        except asyncio.CancelledError:
            conn.writer.close()  # mid-request: this connection cannot be reused
            raise
        pool.put_nowait(conn)
        done = time.monotonic()
        tally.add(status, done - (start + i / rate), done - start)

    tasks = []
    for i, request in enumerate(requests):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, request)))
    _, pending = await asyncio.wait(tasks, timeout=grace)
    cutoff = time.monotonic()
    for i, task in enumerate(tasks):
        if task in pending:
            task.cancel()
            tally.abandoned += 1
            tally.latencies.append(cutoff - (start + i / rate))
    await asyncio.gather(*pending, return_exceptions=True)
    while not pool.empty():
        pool.get_nowait().writer.close()
    return tally


def stored_messages(db_file: Path) -> int:
    with sqlite3.connect(db_file) as conn:
        return int(conn.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0])


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=None, help="sustained phase length (default 60)")
    parser.add_argument("--connections", type=int, default=64, help="connections in the sustained phase")
    parser.add_argument("--rate", type=float, default=1_000.0, help="fixed-rate phase, requests/s (target: 1,000)")
    parser.add_argument("--rate-seconds", type=float, default=None, help="fixed-rate phase length (default 30)")
    args = parser.parse_args()
    quick = args.quick
    contacts = 1_000 if quick else 10_000
    sustained_s = args.seconds or (3.0 if quick else 60.0)
    rate_s = args.rate_seconds or (2.0 if quick else 30.0)
    rate = args.rate
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    _util.header("B1 ingest", args)
    with _util.temp_dir() as d:
        db_file = d / "ingest.sqlite3"
        url = f"sqlite:///{db_file}"
        env = {**os.environ, "WASESSION_DATABASE_URL": url}
        subprocess.run(
            [_util.WASESSION, "channels", "add", "--name", "bench", "--phone-number-id", _seed.PHONE_NUMBER_ID,
             "--access-token", "bench-token", "--app-secret", _seed.APP_SECRET, "--verify-token", "bench-verify"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        port = _util.free_port()
        server = _util.start_serve(env, port)
        try:
            _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=60)
            reqs = Requests(f"127.0.0.1:{port}", contacts)
            warm, _ = asyncio.run(closed_loop(port, reqs.build(contacts), 16, 30.0))
            _util.log(f"warm-up: {warm.ok} messages (one per contact, at most 30 s)")

            tally = asyncio.run(fixed_rate(port, reqs.build(int(rate * rate_s)), rate, 256, grace=rate_s))
            load_rate = _util.loadavg()
            achieved = len(tally.done_at) / max(tally.done_at)
            p50, p99 = _util.percentile(tally.latencies, 50), _util.percentile(tally.latencies, 99)
            print(
                f"fixed rate {rate:,.0f}/s for {rate_s:.0f} s: completed {achieved:,.0f}/s  "
                f"p50 {_util.fmt_ms(p50)}  p99 {_util.fmt_ms(p99)}  max {_util.fmt_ms(max(tally.latencies))}"
                f"  abandoned {tally.abandoned:,} (counted at their wait so far)  load={load_rate}",
                flush=True,
            )

            sus, elapsed = asyncio.run(
                closed_loop(port, reqs.build(int(2_500 * sustained_s)), args.connections, sustained_s)
            )
            load_sus = _util.loadavg()
            throughput = sus.ok / elapsed
            windows = [0] * (int(elapsed // 10) + 1)
            for at in sus.done_at:
                windows[int(at // 10)] += 1
            per_window = ", ".join(f"{w / 10:,.0f}" for w in windows[: int(elapsed // 10)]) or "-"
            print(
                f"sustained {args.connections} connections for {elapsed:.1f} s: {throughput:,.0f} msg/s "
                f"(per 10 s: {per_window})  p50 {_util.fmt_ms(_util.percentile(sus.latencies, 50))}  "
                f"p99 {_util.fmt_ms(_util.percentile(sus.latencies, 99))}  load={load_sus}",
                flush=True,
            )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        errors = {**tally.errors}
        for k, v in {**warm.errors, **sus.errors}.items():
            errors[k] = errors.get(k, 0) + v
        sent_ok = warm.ok + tally.ok + sus.ok
        stored = stored_messages(db_file)
    print(f"answered 200: {sent_ok:,}; stored inbound messages: {stored:,}; non-200 answers: {errors or 'none'}")
    if errors or not sent_ok <= stored <= sent_ok + tally.abandoned:
        print("B1: ERROR: every signed unique message must be answered 200 and stored once")
        return 1
    print("targets: sustained >= 2,000 msg/s; at 1,000/s p50 <= 25 ms, p99 <= 250 ms")
    met = rate >= 1_000 and throughput >= 2_000 and p50 <= 0.025 and p99 <= 0.25
    return _util.verdict("B1", met, quick)


if __name__ == "__main__":
    sys.exit(main())

"""B1: signed webhooks over real HTTP into `wasession serve` on SQLite: the durable ack and the apply behind it.

The server runs in its own process (`wasession serve --no-sandbox` on a fresh SQLite file with one
channel created by `wasession channels add`). This process is the load generator: a small
asyncio HTTP/1.1 keep-alive client (uvloop) whose requests are built before each phase, each body a
unique text message from one of CONTACTS customers, signed with HMAC-SHA256 under the channel's app
secret exactly as Meta signs it. A 200 means the body is committed to the webhook log (issue 12);
the apply lag of each body is read from the log afterwards (processed_at - received_at).

Phases: a warm-up (one message per contact, not measured); a fixed-rate phase at 1,000/s, open
loop, ack latency measured from each request's scheduled time; a 30 s closed-loop burst (ack rate,
then the time until every body is applied); a sustained fixed-rate phase (the apply lag of its
bodies); then B1-floor (`bench/floor_receiver.py`: the minimal durable-ack receiver) driven by the
same burst, and the burst/floor ratio. `--kill`: B1-kill instead — SIGKILL `serve` in the middle of
a burst, restart it, count acknowledged bodies lost and wait for the backlog to drain.
Targets (issue 21): burst >= 0.35 x floor, every acknowledged body applied within 10 s after; at
1,000/s ack p50 <= 5 ms, p99 <= 25 ms; B1-kill: 0 lost. Printed beside them, not judged: issue 12's
absolute rates (burst >= 5,000/s; sustained >= 2,500/s with apply lag p99 <= 1 s), which depend on
the machine where a ratio to the floor measured in the same run does not.
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
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.db import log_file_path

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
            out.append(webhook_post(self.host, body, signed(secret, body)))
        return out


def signed(secret: bytes, body: bytes) -> dict[str, str]:
    """The headers Meta sends with `body`: its type and its signature with the app secret."""
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": signature}


def webhook_post(host: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The raw keep-alive POST of `body` to /webhooks/whatsapp, as the benchmarks' socket clients send it."""
    return raw_post(host, "/webhooks/whatsapp", body, headers)


def raw_post(host: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """A keep-alive HTTP/1.1 POST of `body` to `path`, as bytes for a raw socket."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, request: bytes) -> int:
        return (await self.exchange(request))[0]

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body


async def reconnect(port: int, timeout: float = 120.0) -> Connection:
    """A new connection, waiting while the server restarts (B1-kill)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            return Connection(reader, writer)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def connect(port: int, n: int) -> list[Connection]:
    conns = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conns.append(Connection(reader, writer))
    return conns


class Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.ids: list[int] = []  # the webhook log ids the 200s answered
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
            status, body = await conn.exchange(request)
        except asyncio.CancelledError:
            conn.writer.close()  # mid-request: this connection cannot be reused
            raise
        except (ConnectionError, asyncio.IncompleteReadError):  # the server died (B1-kill): no answer
            conn.writer.close()
            pool.put_nowait(await reconnect(port))
            done = time.monotonic()
            tally.add(0, done - (start + i / rate), done - start)
            return
        pool.put_nowait(conn)
        done = time.monotonic()
        tally.add(status, done - (start + i / rate), done - start)
        if status == 200:
            tally.ids.append(int(json.loads(body)["id"]))

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


def last_log_id(db_file: Path) -> int:
    with sqlite3.connect(log_file_path(db_file)) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM webhook_log").fetchone()[0])


def backlog(db_file: Path) -> int:
    """Bodies logged and not applied yet: the webhook log is a file of its own beside the database."""
    with sqlite3.connect(log_file_path(db_file)) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_log WHERE processed_at IS NULL").fetchone()[0])


def wait_applied(db_file: Path, timeout: float) -> float:
    """Seconds until no logged body waits (polling the database the server writes); inf on timeout."""
    start = time.monotonic()
    while backlog(db_file):
        if time.monotonic() - start > timeout:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - start


def apply_lags(db_file: Path, after_id: int) -> list[float]:
    with sqlite3.connect(log_file_path(db_file)) as conn:
        rows = conn.execute(
            "SELECT (julianday(processed_at) - julianday(received_at)) * 86400.0 FROM webhook_log WHERE id > ?",
            (after_id,),
        ).fetchall()
    return [float(r[0]) for r in rows if r[0] is not None]


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = _util.start_serve(env, port)
    _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=120)
    return server


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def new_database(d: Path) -> tuple[Path, dict[str, str]]:
    db_file = d / "ingest.sqlite3"
    env = {**os.environ, "WASESSION_DATABASE_URL": f"sqlite:///{db_file}"}
    subprocess.run(
        [_util.WASESSION, "channels", "add", "--skip-token-check", "--name", "bench",
         "--phone-number-id", _seed.PHONE_NUMBER_ID,
         "--access-token", "bench-token", "--app-secret", _seed.APP_SECRET, "--verify-token", "bench-verify"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return db_file, env


def floor_burst(d: Path, contacts: int, connections: int, seconds: float) -> float:
    """B1-floor: the same client's burst against bench/floor_receiver.py; its ack rate."""
    port = _util.free_port()
    floor = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("floor_receiver.py")), "--port", str(port),
         "--db", str(d / "floor.sqlite3"), "--secret", _seed.APP_SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _util.wait_for_url(f"http://127.0.0.1:{port}/", timeout=60, status=403)
        reqs = Requests(f"127.0.0.1:{port}", contacts)
        asyncio.run(closed_loop(port, reqs.build(2_000), 16, 5.0))  # warm-up
        tally, elapsed = asyncio.run(closed_loop(port, reqs.build(int(20_000 * seconds)), connections, seconds))
    finally:
        floor.kill()
        floor.wait(10)
    if tally.errors:
        raise SystemExit(f"B1-floor: ERROR: non-200 answers {tally.errors}")
    return tally.ok / elapsed


def run_b1(args: Any, quick: bool) -> int:
    contacts = 1_000 if quick else 10_000
    burst_s = args.seconds or (3.0 if quick else 30.0)
    rate_s = args.rate_seconds or (2.0 if quick else 30.0)
    sustained_rate = args.sustained_rate or (500.0 if quick else 2_500.0)
    sustained_s = 3.0 if quick else 30.0
    rate = args.rate
    with _util.temp_dir() as d:
        db_file, env = new_database(d)
        port = _util.free_port()
        server = start_serve(env, port)
        try:
            reqs = Requests(f"127.0.0.1:{port}", contacts)
            warm, _ = asyncio.run(closed_loop(port, reqs.build(contacts), 16, 30.0))
            wait_applied(db_file, 120)
            _util.log(f"warm-up: {warm.ok} messages (one per contact, at most 30 s), applied")

            tally = asyncio.run(fixed_rate(port, reqs.build(int(rate * rate_s)), rate, 256, grace=rate_s))
            load_rate = _util.loadavg()
            achieved = len(tally.done_at) / max(tally.done_at)
            p50, p99 = _util.percentile(tally.latencies, 50), _util.percentile(tally.latencies, 99)
            print(
                f"fixed rate {rate:,.0f}/s for {rate_s:.0f} s: completed {achieved:,.0f}/s  ack "
                f"p50 {_util.fmt_ms(p50)}  p99 {_util.fmt_ms(p99)}  max {_util.fmt_ms(max(tally.latencies))}"
                f"  abandoned {tally.abandoned:,}  load={load_rate}",
                flush=True,
            )
            wait_applied(db_file, 120)

            burst, elapsed = asyncio.run(
                closed_loop(port, reqs.build(int(12_000 * burst_s)), args.connections, burst_s)
            )
            load_burst = _util.loadavg()
            burst_rate = burst.ok / elapsed
            drained = wait_applied(db_file, 600)
            print(
                f"burst {args.connections} connections for {elapsed:.1f} s: ack {burst_rate:,.0f}/s "
                f"({burst.ok:,} bodies)  ack p50 {_util.fmt_ms(_util.percentile(burst.latencies, 50))}  "
                f"p99 {_util.fmt_ms(_util.percentile(burst.latencies, 99))}; all applied {drained:.1f} s after the "
                f"burst ended  load={load_burst}",
                flush=True,
            )

            before = last_log_id(db_file)
            sus = asyncio.run(
                fixed_rate(port, reqs.build(int(sustained_rate * sustained_s)), sustained_rate, 256, grace=10.0)
            )
            wait_applied(db_file, 600)
            load_sus = _util.loadavg()
            sus_rate = len(sus.done_at) / max(sus.done_at)
            lags = apply_lags(db_file, before)
            lag_p50, lag_p99 = _util.percentile(lags, 50), _util.percentile(lags, 99)
            print(
                f"sustained {sustained_rate:,.0f}/s for {sustained_s:.0f} s: acked {sus_rate:,.0f}/s  "
                f"ack p99 {_util.fmt_ms(_util.percentile(sus.latencies, 99))}  apply lag p50 {_util.fmt_ms(lag_p50)}"
                f"  p99 {_util.fmt_ms(lag_p99)}  load={load_sus}",
                flush=True,
            )
        finally:
            stop(server)
        errors: dict[int, int] = {}
        for t in (warm, tally, burst, sus):
            for k, v in t.errors.items():
                errors[k] = errors.get(k, 0) + v
        sent_ok = warm.ok + tally.ok + burst.ok + sus.ok
        stored = stored_messages(db_file)
        abandoned = tally.abandoned + sus.abandoned
        floor_rate = floor_burst(d, contacts, args.connections, burst_s)
    ratio = burst_rate / floor_rate
    print(
        f"B1-floor: ack {floor_rate:,.0f}/s in the same run; burst/floor = {ratio:.2f}  load={_util.loadavg()}",
        flush=True,
    )
    print(f"answered 200: {sent_ok:,}; stored inbound messages: {stored:,}; non-200 answers: {errors or 'none'}")
    if errors or not sent_ok <= stored <= sent_ok + abandoned:
        print("B1: ERROR: every signed unique message must be answered 200 and applied once")
        return 1
    print(
        "targets: burst >= 0.35 x floor, all applied within 10 s after; at 1,000/s ack p50 <= 5 ms, p99 <= 25 ms "
        "(not judged: burst >= 5,000/s; sustained >= 2,500/s with apply lag p99 <= 1 s)"
    )
    met = ratio >= 0.35 and drained <= 10 and rate >= 1_000 and p50 <= 0.005 and p99 <= 0.025
    return _util.verdict("B1", met, quick)


async def burst_until_killed(port: int, requests: list[bytes], connections: int, kill: Any, after: float) -> list[int]:
    """A closed-loop burst; `kill()` runs `after` seconds in. The ids of the bodies answered 200."""
    conns = await connect(port, connections)
    acked: list[int] = []
    it = iter(requests)

    async def worker(conn: Connection) -> None:
        for request in it:
            try:
                status, body = await conn.exchange(request)
            except (ConnectionError, asyncio.IncompleteReadError):
                return
            if status == 200:
                acked.append(int(json.loads(body)["id"]))

    async def killer() -> None:
        await asyncio.sleep(after)
        kill()

    await asyncio.gather(killer(), *(worker(c) for c in conns))
    for c in conns:
        c.writer.close()
    return acked


def run_kill(args: Any, quick: bool) -> int:
    """B1-kill: SIGKILL serve mid-burst, restart, count acknowledged bodies lost."""
    contacts = 1_000 if quick else 10_000
    after = 2.0 if quick else 10.0
    with _util.temp_dir() as d:
        db_file, env = new_database(d)
        port = _util.free_port()
        server = start_serve(env, port)
        reqs = Requests(f"127.0.0.1:{port}", contacts)
        try:
            acked = asyncio.run(
                burst_until_killed(port, reqs.build(int(12_000 * after)), args.connections, server.kill, after)
            )
            server.wait(30)
        finally:
            if server.poll() is None:
                server.kill()
        waiting = backlog(db_file)
        print(f"SIGKILL after {after:.0f} s: {len(acked):,} bodies acknowledged; {waiting:,} logged, not applied")
        server = start_serve(env, port)
        try:
            drained = wait_applied(db_file, 600)
        finally:
            stop(server)
        with sqlite3.connect(log_file_path(db_file)) as conn:
            present = {
                int(r[0]) for r in conn.execute("SELECT id FROM webhook_log WHERE processed_at IS NOT NULL").fetchall()
            }
        lost = len(set(acked) - present)
        stored = stored_messages(db_file)
    print(
        f"after the restart: backlog drained in {drained:.1f} s; acknowledged bodies lost: {lost}; "
        f"inbound messages {stored:,} (acknowledged {len(acked):,})  load={_util.loadavg()}"
    )
    if lost or stored < len(acked):
        print("B1-kill: ERROR: an acknowledged body was lost")
        return 1
    return _util.verdict("B1-kill", drained != float("inf"), quick)


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=None, help="burst length (default 30)")
    parser.add_argument("--connections", type=int, default=64, help="connections of the burst")
    parser.add_argument("--rate", type=float, default=1_000.0, help="fixed-rate phase, requests/s (target: 1,000)")
    parser.add_argument("--rate-seconds", type=float, default=None, help="fixed-rate phase length (default 30)")
    parser.add_argument("--sustained-rate", type=float, default=None, help="sustained phase, requests/s (2,500)")
    parser.add_argument("--kill", action="store_true", help="B1-kill: SIGKILL serve mid-burst and restart it")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    _util.header("B1-kill" if args.kill else "B1 ingest", args)
    return run_kill(args, args.quick) if args.kill else run_b1(args, args.quick)


if __name__ == "__main__":
    sys.exit(main())

"""B7: the closed loop — reminders at a 1,000/s channel limit to the fake Cloud API over real HTTP,
the fake posting `sent`, `delivered` and `read` for each back to the same `wasession serve` over
real HTTP at Meta-like concurrency, plus 100 customer messages/s from another client.

Three processes: the fake Cloud API under uvicorn, its status webhooks (the fake's own bodies,
signed) posted by `StatusPump` from the same event loop over CONNECTIONS keep-alive raw sockets;
`wasession serve --no-sandbox` on a fresh SQLite file (or PostgreSQL with --postgres) whose one
channel sends to the fake (sender concurrency as docs/deploy.md sizes it for 1,000/s); and this
process, which seeds N customers who wrote just over an hour ago (so N reminders fall due when serve
starts) and, once one warm-up message is applied (serve's apply process starts after serve is
ready), runs the customer client, open loop at --customer-rate, latency counted from each request's
scheduled time.

Targets: sends >= 950/s; every status applied (each reminder ends `read`, no logged body left
unapplied), status lag p99 <= 1 s (from the moment the fake made the status due to the moment
serve's 200 came back, plus the apply lag of the status bodies serve's webhook log shows:
processed_at - received_at, p99 of each added); customer messages acked p99 <= 50 ms.

B1-kill under this load (`--kill serve` or `--kill apply`): SIGKILL `serve` (then start it again on
the same port) or its apply process (serve starts a new one) a third of the way into the sends.
Targets: 0 acknowledged bodies lost (every customer message answered 200 and every status the fake
saw answered 2xx is in the webhook log, applied), 0 reminders sent twice (the fake accepted each
customer's reminder once). Statuses the fake posted into a connection serve dropped are not
acknowledged and not retried (Meta would retry), and a reminder claimed but not yet sent when `serve`
died is never sent (at most once), so in this mode not every reminder ends `read`.

The fake's pump prints serve's round trip for a status and what its CONNECTIONS carry at that mean:
past 10.7 ms at 1,000 sends/s they fall behind the 3,000 statuses a second, and the status lag grows
for as long as the sends last.

Each run ends with the CPU each process used, in all and per send: on two cores, what the loop
costs per send bounds the rate any tuning can reach (docs/benchmarks.md). Before serve, in the same
run (not with --kill or --no-floor), B7-floor (`floor_loop.py`: the least program doing the same job on
the same stack) runs the same loop against a fake of its own; the run ends with the ratio of the two.
--no-floor skips it, for A/B runs interleaved with another commit and for runs under a profiler: a
verdict without its floor beside it says nothing about the machine it ran on.

    python bench/closed_loop.py                 # 20,000 reminders (60,000 status webhooks)
    python bench/closed_loop.py --quick         # 3,000 reminders, < 60 s
    python bench/closed_loop.py --quick --kill serve
    python bench/closed_loop.py --quick --kill apply
    python bench/closed_loop.py --no-floor      # serve's loop alone (A/B, profiling)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util
import floor_receiver
import httpx
import ingest  # B1's open-loop client
import send_throughput as b4

from wasession.store.db import log_file_path

CONNECTIONS = 32  # the fake's connections to serve, as Meta posts over many at once
# As docs/deploy.md sizes the sender for a channel at 1,000/s: about the rate x Meta's answer time
# (0.1-0.3 s). Each round claims half of it, so fewer would also pay the round's statements per
# 16 sends instead of per 64.
SENDER_CONCURRENCY = 128
DELAYS = (0.5, 2.0)  # seconds after a send until `delivered`, `read` (`sent` at once)


# -- the fake Cloud API and its pump, in their own process -------------------------------------------


class StatusPump:
    """Posts the fake's due status webhooks to serve over CONNECTIONS keep-alive connections, from an
    asyncio loop over raw sockets, as Meta's own fleet posts them from many machines at once.

    The sandbox's `WebhookPump` (threads and httpx, ample for one developer's sandbox) spends about
    300 µs of the fake's GIL per post: at 3,000 statuses/s it would be the fake, not serve, that
    this benchmark measures. Here a post costs the fake a signature and a socket write."""

    def __init__(self, fake: Any, port: int, connections: int) -> None:
        self.fake, self.port, self.connections = fake, port, connections
        self.delivered = self.failed = 0
        self.lags: list[float] = []
        # Each post's round trip to serve's 200, and the most due statuses ever waiting for a connection:
        # a closed pool carries at most `connections` / (mean round trip) statuses a second, and past
        # that the queue (and the status lag) grows for as long as the sends go on.
        self.round_trips: list[float] = []
        self.queue_peak = 0
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def run(self) -> None:
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.connections)]
        try:
            while True:
                for hook in self.fake.due_webhooks(datetime.now(UTC)):
                    self.queue.put_nowait(hook)
                await asyncio.sleep(0.002)
        finally:
            for worker in workers:
                worker.cancel()

    def request(self, hook: Any) -> bytes:
        raw, headers = self.fake.signed(hook)
        return ingest.webhook_post(f"127.0.0.1:{self.port}", raw, headers)

    async def _worker(self) -> None:
        conn = None  # connected at the first status: serve starts after the fake
        while True:
            self.queue_peak = max(self.queue_peak, self.queue.qsize())
            hook = await self.queue.get()
            if conn is None:
                conn = await ingest.reconnect(self.port)
            try:
                posted = time.monotonic()
                status = await conn.post(self.request(hook))
                self.round_trips.append(time.monotonic() - posted)
            except (ConnectionError, asyncio.IncompleteReadError):  # serve died (B1-kill): not retried
                conn.writer.close()
                self.failed += 1
                conn = None
                continue
            if status < 300:
                self.delivered += 1
                self.lags.append(time.time() - hook.due_at.timestamp())
            else:
                self.failed += 1


def serve_fake(port: int, target_port: int, connections: int) -> None:
    import contextlib
    from collections.abc import AsyncIterator

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    from wasession.domain.clock import SystemClock
    from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber

    fake = FakeCloudApi(SystemClock(), status_delays=(timedelta(seconds=DELAYS[0]), timedelta(seconds=DELAYS[1])))
    fake.register(FakeNumber(phone_number_id=b4.PNID, access_token=b4.TOKEN, app_secret=b4.APP_SECRET))
    pump = StatusPump(fake, target_port, connections)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.ensure_future(pump.run())
        yield
        task.cancel()

    async def customers(request: Request) -> Response:
        data = await request.json()
        at = datetime.fromtimestamp(data["at"], UTC)
        for wa_id in data["wa_ids"]:
            fake.customer_wrote(b4.PNID, wa_id, at)
        return JSONResponse({"ok": True})

    async def accepted(request: Request) -> Response:
        sent = fake.accepted(b4.PNID)
        return JSONResponse({"sent_at": [m.sent_at.timestamp() for m in sent], "to": len({m.to for m in sent})})

    async def pumped(request: Request) -> Response:
        return JSONResponse(
            {
                "delivered": pump.delivered,
                "failed": pump.failed,
                "accepted": len(fake.accepted(b4.PNID)),
                "pending": fake.next_webhook_at() is not None or not pump.queue.empty(),
                "lags": list(pump.lags) if request.query_params.get("lags") else [],
                "round_trips": list(pump.round_trips) if request.query_params.get("lags") else [],
                "queue_peak": pump.queue_peak,
            }
        )

    app = Starlette(
        routes=[
            Route("/_bench/customers", customers, methods=["POST"]),
            Route("/_bench/accepted", accepted),
            Route("/_bench/pump", pumped),
            Mount("/", fake.app),
        ],
        lifespan=lifespan,
    )
    # serve's own protocol, so the fake answers a send in one write (Meta's answer is one small packet;
    # in two it woke serve's sender twice).
    http = floor_receiver.serve_protocol()
    uvicorn.run(bare_sends(fake, app), host="127.0.0.1", port=port, log_level="warning", access_log=False, http=http)


def bare_sends(fake: Any, app: Any) -> Any:
    """The fake's send route answered straight over ASGI (`FakeCloudApi.answer_send`, the route's own
    code), everything else by the Starlette app: Starlette's middleware and routing took about half of
    the fake's CPU, and the fake stands in for Meta's servers, whose cost is not ours to measure."""

    async def front(scope: Any, receive: Any, send: Any) -> None:
        parts = scope["path"].split("/") if scope["type"] == "http" and scope["method"] == "POST" else []
        if len(parts) != 4 or parts[3] != "messages":  # "", version, phone number id, "messages"
            await app(scope, receive, send)
            return
        raw = await floor_receiver.whole_body(receive)
        authorization = dict(scope["headers"]).get(b"authorization")
        status, answer = fake.answer_send(parts[1], parts[2], authorization.decode() if authorization else None, raw)
        await floor_receiver.answer_json(send, status, json.dumps(answer).encode())

    return front


def start_fake(target_port: int, connections: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _util.free_port()
    cmd = [sys.executable, __file__, "--serve-fake", str(port), "--target-port", str(target_port)]
    cmd += ["--connections", str(connections)]
    proc = subprocess.Popen(cmd)
    base = f"http://127.0.0.1:{port}"
    _util.wait_for_url(base + "/_bench/accepted", timeout=30)
    return proc, base


# -- seeding and the customer client -------------------------------------------------------------------


def seed(database_url: str, fake: str, count: int, limit: int) -> None:
    """The channel (reminders 1 h after T, sending to the fake) and `count` customers who wrote 1 h 5 s ago."""
    import _seed  # sets the secret key every process of the run shares

    rt = _seed.runtime(database_url)
    try:
        b4.bench_channel(rt, fake, limit, reminder_after_hours=1)
        wrote_at = datetime.now(UTC) - timedelta(hours=1, seconds=5)
        for first in range(0, count, b4.BATCH):
            rt.ingestor.ingest(b4._customers_body(first, min(b4.BATCH, count - first), wrote_at))
    finally:
        rt.stop()
    tell_fake(fake, count, wrote_at)


def tell_fake(fake: str, count: int, wrote_at: datetime) -> None:
    """The fake learns that the `count` customers wrote at `wrote_at`, so their window is open there too."""
    wa_ids = [b4.customer_wa_id(n) for n in range(count)]
    httpx.post(fake + "/_bench/customers", json={"at": wrote_at.timestamp(), "wa_ids": wa_ids}, timeout=60)


def customer_requests(host: str, n: int) -> list[bytes]:
    from wasession.sandbox.bodies import new_wamid, text_message_body

    out, now = [], datetime.now(UTC)
    for i in range(n):
        wa_id = f"4479{i:08d}"
        body = json.dumps(
            text_message_body(
                phone_number_id=b4.PNID, wa_id=wa_id, name="C", text=f"m {i}", timestamp=now, wamid=new_wamid(wa_id)
            )
        ).encode()
        out.append(ingest.webhook_post(host, body, ingest.signed(b4.APP_SECRET.encode(), body)))
    return out


# -- figures ---------------------------------------------------------------------------------------------


def _rows(db_file: Path | None, database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the main database (`db_file`, or PostgreSQL), or from the webhook log with
    `log=True` in the SQL's place: on SQLite the log is the file beside the database."""
    if db_file is not None:
        target = log_file_path(db_file) if "webhook_log" in sql else db_file
        with sqlite3.connect(target) as conn:
            return list(conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


def apply_lags(db_file: Path | None, database_url: str) -> dict[int, list[float]]:
    """processed_at - received_at of every webhook serve logged, by kind (0 customer, 1 statuses
    only; inf: not applied)."""
    lags: dict[int, list[float]] = {0: [], 1: []}
    for received, processed, kind in _rows(
        db_file, database_url, "SELECT received_at, processed_at, kind FROM webhook_log"
    ):
        if isinstance(received, str):
            received = datetime.fromisoformat(received)
            processed = datetime.fromisoformat(processed) if processed else None
        lags.setdefault(int(kind), []).append((processed - received).total_seconds() if processed else float("inf"))
    return lags


def read_count(db_file: Path | None, database_url: str) -> int:
    sql = "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'read'"
    return int(_rows(db_file, database_url, sql)[0][0])


def applied_ids(db_file: Path | None, database_url: str) -> set[int]:
    return {
        int(r[0]) for r in _rows(db_file, database_url, "SELECT id FROM webhook_log WHERE processed_at IS NOT NULL")
    }


def warm_up(port: int, database_url: str, db_file: Path | None) -> None:
    """One customer message, waited for until applied: serve's apply process starts after serve is
    ready, and its start-up is not what the apply lag should measure."""
    request = customer_requests(f"127.0.0.1:{port}", 1)[0]
    head, body = request.split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", content=body, headers=headers, timeout=30)
    log_id = int(answer.json()["id"])
    deadline = time.monotonic() + 60
    while log_id not in applied_ids(db_file, database_url) and time.monotonic() < deadline:
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (serve's apply process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(server: subprocess.Popen[bytes], fake: subprocess.Popen[bytes]) -> dict[str, float]:
    """Where the two cores went: serve, its apply process, the fake with its pump, this client."""
    return {
        "serve": cpu_seconds(server.pid),
        "apply": sum(cpu_seconds(pid) for pid in children(server.pid)),
        "fake": cpu_seconds(fake.pid),
        "client": time.process_time(),
    }


class Killer:
    """B1-kill: SIGKILL serve (and start it again) or its apply process, `after` seconds in."""

    def __init__(self, what: str, env: dict[str, str], port: int, server: subprocess.Popen[bytes]) -> None:
        self.what, self.env, self.port, self.server = what, env, port, server
        self.done = threading.Event()
        self.note = ""

    def start(self, after: float) -> None:
        threading.Timer(after, self._kill).start()

    def _kill(self) -> None:
        try:
            if self.what == "serve":
                self.server.kill()
                self.server.wait(30)
                down = time.monotonic()
                self.server = _util.start_serve(self.env, self.port)
                _util.wait_for_url(f"http://127.0.0.1:{self.port}/readyz", timeout=120)
                self.note = f"serve SIGKILLed and started again, down {time.monotonic() - down:.1f} s"
            else:
                targets = children(self.server.pid)
                for pid in targets:
                    os.kill(pid, signal.SIGKILL)
                self.note = f"apply process {targets} SIGKILLed; serve starts another"
        finally:
            self.done.set()


def run_floor(args: argparse.Namespace, count: int) -> dict[str, float]:
    """B7-floor (`floor_loop.py`) on a fake of its own, with the same customers, pump and customer client:
    its sends a second and the CPU per send of the floor and of its fake."""
    port = _util.free_port()
    fake, fake_base = start_fake(port, args.connections)
    try:
        tell_fake(fake_base, count, datetime.now(UTC) - timedelta(hours=1, seconds=5))
        fake_before = cpu_seconds(fake.pid)
        with _util.temp_dir() as d:
            cmd = [sys.executable, str(Path(__file__).with_name("floor_loop.py")), "--port", str(port)]
            cmd += ["--fake", fake_base, "--dir", str(d), "--count", str(count), "--limit", str(args.limit)]
            floor = subprocess.Popen(cmd, stdout=subprocess.PIPE)
            _util.wait_for_url(f"http://127.0.0.1:{port}/", timeout=60, status=403)  # up: an unsigned GET is refused
            seconds = count / args.limit + DELAYS[1] + 1
            reqs = customer_requests(f"127.0.0.1:{port}", int(args.customer_rate * seconds))
            asyncio.run(ingest.fixed_rate(port, reqs, args.customer_rate, 16, grace=10.0))
            try:
                out, _ = floor.communicate(timeout=300)
            finally:
                if floor.poll() is None:  # never all `read` (a lost status): it would wait forever
                    floor.kill()
        done = json.loads(out.decode().strip().splitlines()[-1])
        sends = httpx.get(fake_base + "/_bench/accepted", timeout=30).json()
        fake_cpu = cpu_seconds(fake.pid) - fake_before
    finally:
        fake.terminate()
        fake.wait(10)
    figures = b4._figures(sorted(sends["sent_at"]), sends["to"], count, args.limit, 0.0, done["seconds"])
    floor_ms, fake_ms = done["cpu"] / count * 1000, fake_cpu / count * 1000
    print(
        f"B7-floor (bench/floor_loop.py, same fake, pump and customers): {figures['mean_rate_whole_seconds']:,.0f}/s "
        f"over whole seconds, every send `read`; CPU per send: floor {floor_ms:.2f} ms, its fake {fake_ms:.2f} ms"
        f"  load={_util.loadavg()}",
        flush=True,
    )
    return {"rate": figures["mean_rate_whole_seconds"], "floor_ms": floor_ms, "fake_ms": fake_ms}


def run(args: argparse.Namespace, database_url: str, db_file: Path | None) -> bool:
    count = args.count or (3000 if args.quick else 20000)
    floor = None if args.kill or args.no_floor else run_floor(args, count)
    port = _util.free_port()
    fake, fake_base = start_fake(port, args.connections)
    server: subprocess.Popen[bytes] | None = None
    try:
        seed(database_url, fake_base, count, args.limit)
        concurrency = str(args.sender_concurrency)
        env = {**os.environ, "WASESSION_DATABASE_URL": database_url, "WASESSION_SENDER_CONCURRENCY": concurrency}
        server = _util.start_serve(env, port)
        _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=60)
        warm_up(port, database_url, db_file)
        killer = Killer(args.kill, env, port, server) if args.kill else None
        cpu_before = cpu_of(server, fake)
        started = time.monotonic()
        seconds = count / args.limit + DELAYS[1] + 1
        reqs = customer_requests(f"127.0.0.1:{port}", int(args.customer_rate * seconds))
        if killer is not None:
            killer.start(count / args.limit / 3)
        # After a kill the client reconnects once serve is back: give it the restart's time too.
        grace = 120.0 if killer is not None else 10.0
        tally = asyncio.run(ingest.fixed_rate(port, reqs, args.customer_rate, 16, grace=grace))
        load_during = _util.loadavg()
        if killer is not None:
            killer.done.wait(180)
            server = killer.server
        deadline = time.monotonic() + 120
        while True:
            pumped = httpx.get(fake_base + "/_bench/pump", timeout=30).json()
            # After a kill, the sends in flight at that moment are never made again (at most once): only
            # the reminders the fake accepted have statuses to come.
            sent = pumped["accepted"] if killer is not None else count
            if pumped["delivered"] + pumped["failed"] >= 3 * sent and not pumped["pending"]:
                break
            if time.monotonic() > deadline:
                print("timed out waiting for the status webhooks", flush=True)
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        pumped = httpx.get(fake_base + "/_bench/pump", params={"lags": 1}, timeout=30).json()
        sends = httpx.get(fake_base + "/_bench/accepted", timeout=30).json()
        time.sleep(1.0)  # let serve apply what it acknowledged (the apply lag is measured, not this)
        if killer is not None:  # after a kill the backlog may take longer: wait for it, then count
            deadline = time.monotonic() + 120
            while any(float("inf") in kind for kind in apply_lags(db_file, database_url).values()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        reads = read_count(db_file, database_url)
        lags = apply_lags(db_file, database_url)
        present = applied_ids(db_file, database_url)
        cpu = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_of(server, fake).items()}
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        fake.terminate()
        fake.wait(10)
    figures = b4._figures(sorted(sends["sent_at"]), sends["to"], count, args.limit, 0.0, elapsed)
    status_lags = pumped["lags"] or [float("inf")]
    delivery_p99 = _util.percentile(status_lags, 99)
    status_apply, customer_apply = lags.get(1) or [float("inf")], lags.get(0) or [float("inf")]
    status_apply_p99 = _util.percentile(status_apply, 99)
    unapplied = sum(1 for kind in lags.values() for lag in kind if lag == float("inf"))
    ack_p50, ack_p99 = _util.percentile(tally.latencies, 50), _util.percentile(tally.latencies, 99)
    every_status = reads == count and unapplied == 0
    print(
        f"sends: {figures['accepted']:,} of {count:,}, mean {figures['mean_rate_whole_seconds']:,.0f}/s over whole "
        f"seconds (slowest second {figures['slowest_whole_second']:,}, busiest window "
        f"{figures['busiest_one_second_window']:,})  load={load_during}"
    )
    # Second by second from the first send: where a slow start or a stall shows (docs/benchmarks.md, B7).
    times = sorted(sends["sent_at"])
    per_second = [
        bisect_left(times, times[0] + k + 1) - bisect_left(times, times[0] + k) for k in range(figures["whole_seconds"])
    ]
    print("sends per whole second: " + ", ".join(f"{n:,}" for n in per_second))
    print(
        f"status webhooks: {pumped['delivered']:,} answered 2xx, {pumped['failed']:,} not; due -> 200 "
        f"p50 {_util.fmt_ms(_util.percentile(status_lags, 50))} p99 {_util.fmt_ms(delivery_p99)} "
        f"max {_util.fmt_ms(max(status_lags))}"
    )
    trips = pumped["round_trips"] or [float("inf")]
    mean_trip = sum(trips) / len(trips)
    print(
        f"the fake's {args.connections} connections: serve answered a status in p50 "
        f"{_util.fmt_ms(_util.percentile(trips, 50))}, mean {_util.fmt_ms(mean_trip)}, so they carry at most "
        f"{args.connections / mean_trip:,.0f} statuses/s ({3 * args.limit:,}/s at the channel's limit); due statuses "
        f"waiting for a connection peaked at {pumped['queue_peak']:,}"
    )
    print(
        f"apply lag (webhook log): statuses ({len(status_apply):,} bodies) p50 "
        f"{_util.fmt_ms(_util.percentile(status_apply, 50))} p99 {_util.fmt_ms(status_apply_p99)}; customer messages "
        f"({len(customer_apply):,}) p50 {_util.fmt_ms(_util.percentile(customer_apply, 50))} p99 "
        f"{_util.fmt_ms(_util.percentile(customer_apply, 99))}"
    )
    print(
        f"status apply lag p99 (due -> 200 p99 + status apply p99): {_util.fmt_ms(delivery_p99 + status_apply_p99)}; "
        f"every status applied: {'yes' if every_status else 'NO'} (reminders ending `read`: {reads:,} of {count:,}; "
        f"logged bodies not applied: {unapplied:,})"
    )
    print(
        f"customer messages at {args.customer_rate:,.0f}/s: {tally.ok:,} answered 200, "
        f"errors {tally.errors or 'none'}, abandoned {tally.abandoned}; "
        f"ack p50 {_util.fmt_ms(ack_p50)} p99 {_util.fmt_ms(ack_p99)}"
    )
    sent = max(1, figures["accepted"])
    print(
        f"CPU over the run ({elapsed:.1f} s wall, {2 * elapsed:.0f} CPU-s on 2 cores): "
        + ", ".join(f"{name} {seconds:.1f} s ({seconds / elapsed:.0%} of a core)" for name, seconds in cpu.items())
        + "; per send: "
        + ", ".join(f"{name} {seconds / sent * 1000:.2f} ms" for name, seconds in cpu.items())
        + f", all {sum(cpu.values()) / sent * 1000:.2f} ms"
    )
    if floor is not None:
        ours = (cpu["serve"] + cpu["apply"]) / sent * 1000
        print(
            f"against B7-floor in this run: sends/s {figures['mean_rate_whole_seconds']:,.0f} / {floor['rate']:,.0f} = "
            f"{figures['mean_rate_whole_seconds'] / max(1.0, floor['rate']):.2f}; CPU per send, serve and its apply "
            f"process {ours:.2f} ms against the floor's {floor['floor_ms']:.2f} ms: the floor does the job on "
            f"{floor['floor_ms'] / ours:.2f} of wasession's CPU; the loop's fake {cpu['fake'] / sent * 1000:.2f} ms "
            f"a send here, {floor['fake_ms']:.2f} ms beside the floor"
        )
    if args.kill:
        lost = len(set(tally.ids) - present) + max(0, pumped["delivered"] - len(lags.get(1, [])))
        twice = len(sends["sent_at"]) - sends["to"]
        note = killer.note if killer else ""
        print(f"B1-kill ({note}): acknowledged bodies lost: {lost}; reminders sent twice: {twice}")
        print("targets: 0 acknowledged bodies lost, 0 reminders sent twice, every acknowledged body applied")
        if lost or twice:  # a wrong result, not a slow one: fails the quick run too
            print("B1-kill: ERROR: an acknowledged body was lost or a reminder sent twice")
            raise SystemExit(1)
        return unapplied == 0
    print("targets: sends >= 950/s; every status applied, status lag p99 <= 1 s; customer ack p99 <= 50 ms")
    return (
        figures["mean_rate_whole_seconds"] >= 0.95 * args.limit
        and figures["never_exceeded"]
        and figures["all_sent_once"]
        and pumped["failed"] == 0
        and every_status
        and delivery_p99 + status_apply_p99 <= 1.0
        and ack_p99 <= 0.05
    )


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--count", type=int, default=None, help="reminders (default 20,000; quick 3,000)")
    parser.add_argument("--limit", type=int, default=1000, help="the channel's rate_limit_per_second")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="the fake's connections to serve")
    parser.add_argument(
        "--sender-concurrency",
        type=int,
        default=SENDER_CONCURRENCY,
        help="serve's WASESSION_SENDER_CONCURRENCY (docs/deploy.md sizes it for a 1,000/s channel)",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip B7-floor (A/B and profiling runs; no ratio is printed)"
    )
    parser.add_argument("--customer-rate", type=float, default=100.0, help="customer messages per second")
    parser.add_argument("--postgres", nargs="?", const=_util.DEFAULT_PG, default=None, help="PostgreSQL server URL")
    parser.add_argument(
        "--kill", choices=("serve", "apply"), default=None, help="B1-kill: SIGKILL serve, or its apply process, mid-run"
    )
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake, args.target_port, args.connections)
        return 0
    name = f"B1-kill ({args.kill}) under B7" if args.kill else "B7 closed loop"
    _util.header(name, args)
    if args.postgres:
        with _util.postgres_url(args.postgres) as url:
            ok = run(args, url, None)
    else:
        with _util.temp_dir() as d:
            ok = run(args, _util.sqlite_url(d), d / "bench.sqlite3")
    return _util.verdict("B1-kill" if args.kill else "B7", ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())

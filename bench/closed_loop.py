"""B7: the closed loop — reminders at a 1,000/s channel limit to the fake Cloud API over real HTTP,
the fake posting `sent`, `delivered` and `read` for each back to the same `wasession serve` over
real HTTP at Meta-like concurrency, plus 100 customer messages/s from another client.

Three processes: the fake Cloud API under uvicorn, its status webhooks posted by the sandbox's
`WebhookPump` (the code path `serve --sandbox` uses) over CONNECTIONS keep-alive connections;
`wasession serve --no-sandbox` on a fresh SQLite file (or PostgreSQL with --postgres) whose one
channel sends to the fake; and this process, which seeds N customers who wrote just over an hour
ago (so N reminders fall due when serve starts) and runs the customer client, open loop at
--customer-rate, latency counted from each request's scheduled time.

Targets: sends >= 950/s; every status applied (each reminder ends `read`), status lag p99 <= 1 s
(from the moment the fake made the status due to the moment serve's 200 came back, plus the apply
lag serve's webhook log shows: processed_at - received_at); customer messages acked p99 <= 50 ms.

    python bench/closed_loop.py            # 20,000 reminders (60,000 status webhooks)
    python bench/closed_loop.py --quick    # 3,000 reminders, < 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util
import httpx
import send_throughput as b4

import ingest  # B1's open-loop client

CONNECTIONS = 32  # the fake's connections to serve, as Meta posts over many at once
DELAYS = (0.5, 2.0)  # seconds after a send until `delivered`, `read` (`sent` at once)


# -- the fake Cloud API and its pump, in their own process -------------------------------------------


def serve_fake(port: int, target: str, connections: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    from wasession.domain.clock import SystemClock
    from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber, PendingWebhook
    from wasession.sandbox.pump import WebhookPump

    clock = SystemClock()
    fake = FakeCloudApi(clock, status_delays=(timedelta(seconds=DELAYS[0]), timedelta(seconds=DELAYS[1])))
    fake.register(FakeNumber(phone_number_id=b4.PNID, access_token=b4.TOKEN, app_secret=b4.APP_SECRET))
    lags: list[float] = []

    def observe(hook: PendingWebhook, _at: float) -> None:
        lags.append(time.time() - hook.due_at.timestamp())  # list.append is atomic under the GIL

    pump = WebhookPump(fake, clock, target, concurrency=connections, observe=observe)

    def pumping() -> None:
        while True:
            if not pump.step():
                time.sleep(0.002)

    threading.Thread(target=pumping, name="pump", daemon=True).start()

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
                "pending": fake.next_webhook_at() is not None,
                "lags": list(lags),
            }
        )

    app = Starlette(
        routes=[
            Route("/_bench/customers", customers, methods=["POST"]),
            Route("/_bench/accepted", accepted),
            Route("/_bench/pump", pumped),
            Mount("/", fake.app),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_fake(target: str, connections: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _util.free_port()
    cmd = [sys.executable, __file__, "--serve-fake", str(port), "--target", target, "--connections", str(connections)]
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
    wa_ids = [f"1555{n:07d}" for n in range(count)]
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
        signature = "sha256=" + hmac.new(b4.APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


# -- figures ---------------------------------------------------------------------------------------------


def apply_lags(db_file: Path | None, database_url: str) -> list[float]:
    """processed_at - received_at of every webhook serve logged (0 while a 200 means applied)."""
    rows: list[tuple[Any, Any]]
    if db_file is not None:
        with sqlite3.connect(db_file) as conn:
            rows = conn.execute("SELECT received_at, processed_at FROM webhook_log").fetchall()
        parse = datetime.fromisoformat
        return [(parse(p) - parse(r)).total_seconds() if p else float("inf") for r, p in rows]
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT received_at, processed_at FROM webhook_log").fetchall()
    return [(p - r).total_seconds() if p else float("inf") for r, p in rows]


def read_count(db_file: Path | None, database_url: str) -> int:
    sql = "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'read'"
    if db_file is not None:
        with sqlite3.connect(db_file) as conn:
            return int(conn.execute(sql).fetchone()[0])
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def run(args: argparse.Namespace, database_url: str, db_file: Path | None) -> bool:
    count = args.count or (3000 if args.quick else 20000)
    port = _util.free_port()
    fake, fake_base = start_fake(f"http://127.0.0.1:{port}/webhooks/whatsapp", args.connections)
    server: subprocess.Popen[bytes] | None = None
    try:
        seed(database_url, fake_base, count, args.limit)
        env = {**os.environ, "WASESSION_DATABASE_URL": database_url, "WASESSION_SENDER_CONCURRENCY": "32"}
        server = _util.start_serve(env, port)
        _util.wait_for_url(f"http://127.0.0.1:{port}/readyz", timeout=60)
        started = time.monotonic()
        seconds = count / args.limit + DELAYS[1] + 1
        reqs = customer_requests(f"127.0.0.1:{port}", int(args.customer_rate * seconds))
        tally = asyncio.run(ingest.fixed_rate(port, reqs, args.customer_rate, 16, grace=10.0))
        load_during = _util.loadavg()
        deadline = time.monotonic() + 120
        while True:
            pumped = httpx.get(fake_base + "/_bench/pump", timeout=30).json()
            if pumped["delivered"] + pumped["failed"] >= 3 * count and not pumped["pending"]:
                break
            if time.monotonic() > deadline:
                print("timed out waiting for the status webhooks", flush=True)
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        sends = httpx.get(fake_base + "/_bench/accepted", timeout=30).json()
        time.sleep(1.0)  # let serve apply what it acknowledged (the apply lag is measured, not this)
        reads = read_count(db_file, database_url)
        lags = apply_lags(db_file, database_url)
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
    apply_p99 = _util.percentile(lags, 99)
    ack_p50, ack_p99 = _util.percentile(tally.latencies, 50), _util.percentile(tally.latencies, 99)
    print(
        f"sends: {figures['accepted']:,} of {count:,}, mean {figures['mean_rate_whole_seconds']:,.0f}/s over whole "
        f"seconds (slowest second {figures['slowest_whole_second']:,}, busiest window "
        f"{figures['busiest_one_second_window']:,})  load={load_during}"
    )
    print(
        f"status webhooks: {pumped['delivered']:,} answered 2xx, {pumped['failed']:,} not; due -> 200 "
        f"p50 {_util.fmt_ms(_util.percentile(status_lags, 50))} p99 {_util.fmt_ms(delivery_p99)} "
        f"max {_util.fmt_ms(max(status_lags))}"
    )
    print(
        f"apply lag (webhook log, {len(lags):,} bodies): p50 {_util.fmt_ms(_util.percentile(lags, 50))} "
        f"p99 {_util.fmt_ms(apply_p99)}; reminders ending `read`: {reads:,} of {count:,}"
    )
    print(
        f"customer messages at {args.customer_rate:,.0f}/s: {tally.ok:,} answered 200, "
        f"errors {tally.errors or 'none'}, abandoned {tally.abandoned}; "
        f"ack p50 {_util.fmt_ms(ack_p50)} p99 {_util.fmt_ms(ack_p99)}"
    )
    print("targets: sends >= 950/s; every status applied, status lag p99 <= 1 s; customer ack p99 <= 50 ms")
    return (
        figures["mean_rate_whole_seconds"] >= 0.95 * args.limit
        and figures["never_exceeded"]
        and figures["all_sent_once"]
        and pumped["failed"] == 0
        and reads == count
        and delivery_p99 + apply_p99 <= 1.0
        and ack_p99 <= 0.05
    )


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--count", type=int, default=None, help="reminders (default 20,000; quick 3,000)")
    parser.add_argument("--limit", type=int, default=1000, help="the channel's rate_limit_per_second")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="the fake's connections to serve")
    parser.add_argument("--customer-rate", type=float, default=100.0, help="customer messages per second")
    parser.add_argument("--postgres", nargs="?", const=_util.DEFAULT_PG, default=None, help="PostgreSQL server URL")
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake, args.target, args.connections)
        return 0
    _util.header("B7 closed loop", args)
    if args.postgres:
        with _util.postgres_url(args.postgres) as url:
            ok = run(args, url, None)
    else:
        with _util.temp_dir() as d:
            ok = run(args, _util.sqlite_url(d), d / "bench.sqlite3")
    return _util.verdict("B7", ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())

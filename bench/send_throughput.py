"""Benchmark: reminders through the real sender to the fake Cloud API over real HTTP.

The fake runs under uvicorn in its own process on a localhost port (its clock is the system
clock); this process runs the real Runtime (SQLite, SystemClock, due worker, Sender). N customers
wrote just over an hour ago, so N reminders fall due at once; the sender delivers them at the
channel's rate limit. From the fake's own acceptance timestamps the benchmark reports the rate
reached and the busiest one-second window, and PASSES when:

- the mean rate over whole seconds is at least 95% of the limit, and
- no one-second window (sliding, at any start) holds more than the limit, and
- every reminder reached the fake exactly once.

In --quick mode (CI) a rate below 95% is reported but exits 0: a shared CI box may be too slow; a
broken limit or a reminder sent twice always fails.

    python bench/send_throughput.py            # 1,000/s, 20,000 reminders
    python bench/send_throughput.py --quick    # 1,000/s, 3,000 reminders, for CI (< 20 s)
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-token"
APP_SECRET = "bench-secret"
PNID = "100000000000777"
BATCH = 1000


# -- the fake, in its own process ---------------------------------------------------------------------


def serve_fake(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    from wasession.domain.clock import SystemClock
    from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber

    fake = FakeCloudApi(SystemClock(), status_delays=None)
    fake.register(FakeNumber(phone_number_id=PNID, access_token=TOKEN, app_secret=APP_SECRET))

    async def accepted(request: Request) -> Response:
        sent = fake.accepted(PNID)
        answer: dict[str, Any] = {"sent_at": [m.sent_at.timestamp() for m in sent], "to": len({m.to for m in sent})}
        if request.query_params.get("detail"):
            answer["to_list"] = [m.to for m in sent]
        return JSONResponse(answer)

    async def count(request: Request) -> Response:
        return JSONResponse({"count": len(fake.accepted(PNID))})

    app = Starlette(routes=[Route("/_bench/accepted", accepted), Route("/_bench/count", count), Mount("/", fake.app)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_fake() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(port)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/_bench/accepted", timeout=1).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake Cloud API did not start")


# -- the service side -----------------------------------------------------------------------------------


def customer_wa_id(n: int) -> str:
    """The n-th customer of the send benchmarks (B4, B7 and B7-floor)."""
    return f"1555{n:07d}"


def _customers_body(first: int, count: int, wrote_at: datetime) -> bytes:
    from wasession.sandbox.bodies import new_wamid, text_message_body

    body = text_message_body(phone_number_id=PNID, wa_id="1", name="x", text="hi", timestamp=wrote_at)
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"], value["messages"] = [], []
    for n in range(first, first + count):
        wa_id = customer_wa_id(n)
        value["contacts"].append({"profile": {"name": f"Customer {n}"}, "wa_id": wa_id})
        value["messages"].append(
            {
                "from": wa_id,
                "id": new_wamid(wa_id),
                "timestamp": str(int(wrote_at.timestamp())),
                "type": "text",
                "text": {"body": "Is my order ready?"},
            }
        )
    return json.dumps(body).encode()


def bench_channel(runtime: Any, base: str, limit: int, *, reminder_after_hours: int) -> Any:
    """The channel every send benchmark uses: the fake's number, reminders on, 24 h timeout."""
    from wasession.services.channels import NewChannel, create_channel

    return create_channel(
        runtime.ctx,
        NewChannel(
            name="bench",
            phone_number_id=PNID,
            access_token=TOKEN,
            app_secret=APP_SECRET,
            verify_token="v",
            graph_base_url=base,
            rate_limit_per_second=limit,
        ),
        {"reminder_enabled": True, "reminder_after_hours": reminder_after_hours, "session_timeout": "24h"},
    )


def run(count: int, limit: int, concurrency: int) -> dict[str, Any]:
    from wasession.config import Settings
    from wasession.domain.clock import SystemClock
    from wasession.runtime import Runtime
    from wasession.store.secrets import SecretBox

    fake, base = _start_fake()
    tmp = Path(tempfile.mkdtemp(prefix="wasession-bench-"))
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'bench.sqlite3'}",
        secret_key=SecretBox.generate_key(),
        sender_concurrency=concurrency,
    )
    runtime = Runtime(settings, clock=SystemClock())
    try:
        runtime.migrate()
        bench_channel(runtime, base, limit, reminder_after_hours=1)
        t0 = time.monotonic()
        wrote_at = datetime.now(UTC) - timedelta(hours=1, seconds=5)
        for first in range(0, count, BATCH):
            runtime.ingestor.ingest(_customers_body(first, min(BATCH, count - first), wrote_at))
        queued = 0
        while True:
            done = runtime.due.run_due()
            queued += done.reminders_queued
            if not done.total:
                break
        setup = time.monotonic() - t0
        if queued != count:
            raise SystemExit(f"expected {count} reminders to fall due, got {queued}")

        start = time.monotonic()
        report_total = 0
        deadline = start + count / limit * 3 + 30
        while time.monotonic() < deadline:
            report = runtime.sender.run_pending()
            report_total += report.accepted
            if report_total >= count:
                break
            nxt = runtime.sender.next_attempt_at()
            if nxt is None:
                break
            time.sleep(max(0.0, min(0.05, (nxt - datetime.now(UTC)).total_seconds())))
        elapsed = time.monotonic() - start
        data = httpx.get(base + "/_bench/accepted", timeout=30).json()
    finally:
        runtime.stop()
        fake.terminate()
        fake.wait(10)
    return _figures(sorted(data["sent_at"]), data["to"], count, limit, setup, elapsed)


def _figures(
    times: list[float], recipients: int, count: int, limit: int, setup: float, elapsed: float
) -> dict[str, Any]:
    busiest = max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
    whole = int(times[-1] - times[0]) if times else 0
    buckets = [bisect_left(times, times[0] + k + 1) - bisect_left(times, times[0] + k) for k in range(whole)]
    mean = sum(buckets) / len(buckets) if buckets else 0.0
    return {
        "reminders": count,
        "accepted": len(times),
        "distinct_recipients": recipients,
        "limit_per_second": limit,
        "setup_seconds": round(setup, 2),
        "send_seconds": round(elapsed, 2),
        "whole_seconds": whole,
        "mean_rate_whole_seconds": round(mean, 1),
        "slowest_whole_second": min(buckets) if buckets else 0,
        "busiest_one_second_window": busiest,
        "reached": mean >= 0.95 * limit,
        "never_exceeded": busiest <= limit,
        "all_sent_once": len(times) == count == recipients,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 reminders (CI)")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--limit", type=int, default=1000, help="the channel's rate_limit_per_second")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake)
        return 0
    count = args.count or (3000 if args.quick else 20000)
    figures = run(count, args.limit, args.concurrency)
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    correct = figures["never_exceeded"] and figures["all_sent_once"]
    ok = correct and figures["reached"]
    print("PASS" if ok else "FAIL")
    if args.quick and correct and not ok:
        # CI boxes are shared and small: there the rate is reported, and only a broken limit or a
        # reminder sent twice (or not at all) fails the build.
        print(f"(quick mode: rate below 95% of {args.limit}/s on this machine; reported, not fatal)")
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

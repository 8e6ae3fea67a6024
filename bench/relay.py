"""Relay: a forward target that hangs does not change ingest latency.

One `wasession serve --no-sandbox` on a fresh SQLite file with one channel. This process sends signed
single-message webhooks at a fixed rate over one keep-alive connection and times each answer, in three
phases of the same length: no forward target; with one target that accepts the connection and never
answers (every relay call runs into its 10 s deadline, then retries); no target again (the target is
removed), to see drift. The figure is the ratio of the hanging phase to the mean of the two others, for
p50 and p99, with the load average beside each phase. Target: both ratios <= 1.5 (the machine is shared,
so the bound allows for noise; a relay on the request path would add seconds, not percent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.sandbox.bodies import new_wamid, text_message_body

_serial = count()
RATE = 50.0  # webhooks per second, open loop
BOUND = 1.5


def signed(n: int) -> tuple[bytes, str]:
    wa_id = f"49{n % 500:010d}"
    body = json.dumps(
        text_message_body(
            phone_number_id=_seed.PHONE_NUMBER_ID,
            wa_id=wa_id,
            name=f"Customer {n % 500}",
            text=f"message {n}",
            timestamp=datetime.now(UTC),
            wamid=new_wamid(wa_id),
        )
    ).encode()
    return body, "sha256=" + hmac.new(_seed.APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def phase(client: httpx.Client, seconds: float) -> list[float]:
    """Latencies of the webhooks sent at RATE for `seconds`, each from its scheduled time."""
    bodies = [signed(next(_serial)) for _ in range(int(seconds * RATE))]
    latencies: list[float] = []
    start = time.monotonic()
    for i, (body, signature) in enumerate(bodies):
        due = start + i / RATE
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the load generator on the real clock
        answer = client.post(
            "/webhooks/whatsapp",
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )
        if answer.status_code != 200:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")
        latencies.append(time.monotonic() - due)
    return latencies


class Hanging:
    """Accepts connections, reads what it is sent, never answers. `port`: a given one (another server's,
    just stopped, as bench/chatwoot_isolation.py swaps it in), else a free one."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)


def describe(name: str, latencies: list[float], load: str) -> tuple[float, float]:
    p50, p99 = _util.percentile(latencies, 50), _util.percentile(latencies, 99)
    print(f"{name:<22} n={len(latencies):<5} p50 {_util.fmt_ms(p50):>9}  p99 {_util.fmt_ms(p99):>9}  load={load}")
    return p50, p99


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else args.seconds
    _util.header("Relay: ingest latency with a hanging forward target", args)
    with _util.temp_dir() as d:
        env = {
            **os.environ,
            "WASESSION_DATABASE_URL": _util.sqlite_url(d),
            "WASESSION_OUTBOUND_ALLOW": "127.0.0.1",
            "WASESSION_ACCESS_TOKEN": "bench-token",
            "WASESSION_APP_SECRET": _seed.APP_SECRET,
            "WASESSION_VERIFY_TOKEN": "bench-verify",
        }
        subprocess.run(
            [_util.WASESSION, "channels", "add", "--skip-token-check", "--name", "bench",
             "--phone-number-id", _seed.PHONE_NUMBER_ID],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        key = subprocess.run(
            [_util.WASESSION, "apikeys", "create", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = _util.free_port()
        server = subprocess.Popen(
            [_util.WASESSION, "serve", "--no-sandbox", "--port", str(port)],
            env=env,
            cwd=d,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        hanging = Hanging()
        try:
            base = f"http://127.0.0.1:{port}"
            _util.wait_for_url(base + "/readyz", timeout=120)
            api = httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)
            with httpx.Client(base_url=base, timeout=60) as client:
                phase(client, min(seconds, 3.0))  # warm-up, not measured
                before = describe("no target", phase(client, seconds), _util.loadavg())
                made = api.post("/channels/1/forwards", json={"url": f"http://127.0.0.1:{hanging.port}/hook"})
                made.raise_for_status()
                hung = describe("one hanging target", phase(client, seconds), _util.loadavg())
                api.delete(f"/channels/1/forwards/{made.json()['id']}").raise_for_status()
                after = describe("no target again", phase(client, seconds), _util.loadavg())
            attempts = hanging.accepted
        finally:
            _util.stop_serve(server)
            hanging.sock.close()
    ratios = [hung[i] / ((before[i] + after[i]) / 2) for i in (0, 1)]
    print(f"relay calls the hanging target received: {attempts}")
    print(f"ratio hanging / no target: p50 {ratios[0]:.2f}  p99 {ratios[1]:.2f}  (target <= {BOUND})")
    return _util.verdict("Relay", attempts > 0 and all(r <= BOUND for r in ratios), args.quick)


if __name__ == "__main__":
    raise SystemExit(main())

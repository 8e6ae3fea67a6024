"""Chatwoot isolation (issue 22): a connected Chatwoot that hangs changes neither ingest latency nor
another channel's reminders.

One `wasession serve --no-sandbox` on a fresh SQLite file with two channels, each connected to its own
fake Chatwoot (wasession.sandbox.fake_chatwoot, served in this process on real ports), both sending
through Chatwoot. Two phases of the same shape, healthy then hanging: channel A's Chatwoot is healthy in
the first and hangs every call in the second (each call runs into wasession's 10 s deadline). In each
phase this process
- sends signed customer webhooks to channel A at a fixed rate and times each answer (ingest latency);
- (full run) opens sessions on both channels at the phase's start, so each gets a reminder one minute
  later: A's go to the hanging Chatwoot, B's to the healthy one, where the time each appears is taken
  (reminder lag = appearance - due).
Figures: hanging / healthy ratio of ingest p50 and p99, and B's reminder lag in both phases. Targets:
ingest ratios <= 1.5 (the machine is shared, so the bound allows for noise), B's reminder lag p99
under 2 s in both phases. `--quick` (CI): short ingest phases only, no reminder minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.sandbox.fake_chatwoot import FakeChatwoot, ServedFakeChatwoot

RATE = 50.0  # webhooks per second, open loop
BOUND = 1.5
REMINDER_LAG_BOUND = 2.0
PHONE_A, PHONE_B = _seed.PHONE_NUMBER_ID, "1000002"
REMINDED = 10  # sessions per channel per phase whose reminders are timed
POLICY = {
    "session_timeout": "30m",
    "reminder_enabled": True,
    "reminder_steps": [{"after": "1m"}],
    "reminder_template": "Still there?",
}
_serial = count()


def signed(phone: str, wa_id: str, text: str) -> tuple[bytes, str]:
    body = json.dumps(
        text_message_body(
            phone_number_id=phone,
            wa_id=wa_id,
            name="Customer",
            text=text,
            timestamp=datetime.now(UTC),
            wamid=new_wamid(wa_id),
        )
    ).encode()
    return body, "sha256=" + hmac.new(_seed.APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def post(client: httpx.Client, body: bytes, signature: str) -> None:
    answer = client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    if answer.status_code != 200:
        raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")


def ingest_phase(client: httpx.Client, seconds: float) -> list[float]:
    """Latencies of channel A's webhooks sent at RATE for `seconds`, each from its scheduled time."""
    bodies = [
        signed(PHONE_A, f"49{n % 500:010d}", f"m{n}") for n in (next(_serial) for _ in range(int(seconds * RATE)))
    ]
    latencies: list[float] = []
    start = time.monotonic()
    for i, (body, signature) in enumerate(bodies):
        due = start + i / RATE
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the load generator on the real clock
        post(client, body, signature)
        latencies.append(time.monotonic() - due)
    return latencies


def open_sessions(client: httpx.Client, fakes: dict[str, FakeChatwoot], tag: str) -> dict[str, float]:
    """A customer message per contact on both channels (and its conversation in each Chatwoot, as the
    relay would make it); when each contact's reminder falls due (unix seconds)."""
    due: dict[str, float] = {}
    for phone, fake in fakes.items():
        for i in range(REMINDED):
            wa_id = f"7{phone[-1]}{tag}{i:06d}"
            fake.customer_message(wa_id, "hello")
            post(client, *signed(phone, wa_id, "hello"))
            due[wa_id] = time.time() + 60
    return due


def reminder_lags(fake: FakeChatwoot, due: dict[str, float], wait: float) -> list[float]:
    deadline = time.monotonic() + wait
    lags: dict[str, float] = {}
    while time.monotonic() < deadline and len(lags) < len(due):
        for wa_id, when in due.items():
            conv = fake.conversation_of(wa_id)
            sent = [m for m in conv.messages if m.message_type == "outgoing"] if conv else []
            if sent and wa_id not in lags:
                lags[wa_id] = sent[0].created_at - when
        time.sleep(0.1)
    return list(lags.values())


def describe(name: str, latencies: list[float], load: str) -> tuple[float, float]:
    p50, p99 = _util.percentile(latencies, 50), _util.percentile(latencies, 99)
    print(f"{name:<30} n={len(latencies):<5} p50 {_util.fmt_ms(p50):>9}  p99 {_util.fmt_ms(p99):>9}  load={load}")
    return p50, p99


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each ingest phase (default 20)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    _util.header("Chatwoot isolation: ingest and another channel's reminders with a hanging Chatwoot", args)
    with _util.temp_dir() as d, ServedFakeChatwoot() as cw_a, ServedFakeChatwoot() as cw_b:
        env = {
            **os.environ,
            "WASESSION_DATABASE_URL": _util.sqlite_url(d),
            "WASESSION_OUTBOUND_ALLOW": "127.0.0.1",
            "WASESSION_ACCESS_TOKEN": "bench-token",
            "WASESSION_APP_SECRET": _seed.APP_SECRET,
            "WASESSION_VERIFY_TOKEN": "bench-verify",
        }
        for name, phone in (("a", PHONE_A), ("b", PHONE_B)):
            subprocess.run(
                [_util.WASESSION, "channels", "add", "--name", name, "--phone-number-id", phone],
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
        server = _util.start_serve(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            _util.wait_for_url(base + "/readyz", timeout=120)
            api = httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)
            for channel_id, cw in ((1, cw_a), (2, cw_b)):
                api.put(f"/channels/{channel_id}/policy", json=POLICY).raise_for_status()
                api.post(
                    "/chatwoot",
                    json={
                        "channel_id": channel_id,
                        "url": cw.url,
                        "account_id": 1,
                        "inbox_id": 1,
                        "api_token": cw.fake.token,
                    },
                ).raise_for_status()
            fakes = {PHONE_A: cw_a.fake, PHONE_B: cw_b.fake}
            results: dict[str, tuple[tuple[float, float], list[float]]] = {}
            with httpx.Client(base_url=base, timeout=60) as client:
                ingest_phase(client, min(seconds, 3.0))  # warm-up, not measured
                for phase in ("healthy", "hanging"):
                    cw_a.fake.hang_for = 30.0 if phase == "hanging" else 0.0
                    due = {} if args.quick else open_sessions(client, fakes, "1" if phase == "healthy" else "2")
                    figures = describe(f"ingest, A's Chatwoot {phase}", ingest_phase(client, seconds), _util.loadavg())
                    b_due = {w: t for w, t in due.items() if w.startswith("72")}
                    lags = reminder_lags(cw_b.fake, b_due, 90.0) if b_due else []
                    results[phase] = (figures, lags)
                    if lags:
                        p50, p99 = _util.percentile(lags, 50), _util.percentile(lags, 99)
                        print(
                            f"B's reminders, A {phase:<8} n={len(lags)}/{len(b_due)}  "
                            f"p50 {_util.fmt_ms(p50)}  p99 {_util.fmt_ms(p99)}"
                        )
            hung_calls = sum(1 for c in cw_a.fake.calls if c[1].endswith("/messages") or "search" in c[1])
        finally:
            cw_a.fake.hang_for = 0.0
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    healthy, hanging = results["healthy"], results["hanging"]
    ratios = [hanging[0][i] / healthy[0][i] if healthy[0][i] else 1.0 for i in (0, 1)]
    print(f"calls A's Chatwoot received: {hung_calls}")
    print(f"ingest ratio hanging / healthy: p50 {ratios[0]:.2f}  p99 {ratios[1]:.2f}  (target <= {BOUND})")
    reminders_ok = True
    if not args.quick:
        for phase, (_, lags) in results.items():
            complete = len(lags) == REMINDED
            slow = _util.percentile(lags, 99) if lags else float("inf")
            bound = f"target < {REMINDER_LAG_BOUND} s, all {REMINDED} sent"
            print(f"B's reminder lag p99 with A {phase}: {slow:.2f} s ({bound})")
            reminders_ok = reminders_ok and complete and slow < REMINDER_LAG_BOUND
    return _util.verdict("Chatwoot isolation", all(r <= BOUND for r in ratios) and reminders_ok, args.quick)


if __name__ == "__main__":
    raise SystemExit(main())

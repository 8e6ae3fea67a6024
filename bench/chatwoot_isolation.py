"""Chatwoot isolation (issue 22): a connected Chatwoot that hangs changes neither ingest latency nor
another channel's reminders.

One `wasession serve --no-sandbox` on a fresh SQLite file with two channels, each connected to its own
fake Chatwoot (wasession.sandbox.fake_chatwoot on real ports: A's in a process of its own, so its work
does not slow this load generator; B's in this process, where its messages are timed), both sending through
Chatwoot. Two phases of the same shape: in the first A's Chatwoot is healthy; in the second it is replaced,
on the same port, by one that accepts connections and never answers (every call runs into wasession's 10 s
deadline). B's Chatwoot stays healthy throughout. In each phase this process
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
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util
from relay import Hanging, describe
from relay import phase as ingest_phase  # webhooks to _seed.PHONE_NUMBER_ID, channel A here

from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.sandbox.fake_chatwoot import FakeChatwoot, ServedFakeChatwoot

BOUND = 1.5
REMINDER_LAG_BOUND = 2.0
PHONE_A, PHONE_B = _seed.PHONE_NUMBER_ID, "1000002"
TOKEN_A = "bench-chatwoot-a-token"
REMINDED = 10  # sessions per channel per phase whose reminders are timed
POLICY = {
    "session_timeout": "30m",
    "reminder_enabled": True,
    "reminder_steps": [{"after": "1m"}],
    "reminder_template": "Still there?",
}


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


def open_sessions(client: httpx.Client, fake_b: FakeChatwoot, tag: str) -> dict[str, float]:
    """A customer message per contact on both channels (and its conversation in B's Chatwoot, as the
    relay would make it); when each of B's contacts' reminder falls due (unix seconds)."""
    due: dict[str, float] = {}
    for i in range(REMINDED):
        post(client, *signed(PHONE_A, f"71{tag}{i:06d}", "hello"))  # its reminder goes to A's Chatwoot
        wa_id = f"72{tag}{i:06d}"
        fake_b.customer_message(wa_id, "hello")
        post(client, *signed(PHONE_B, wa_id, "hello"))
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


def start_fake_a(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasession.sandbox.fake_chatwoot", str(port), TOKEN_A],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/profile", timeout=1)
            return proc
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # waiting for a real server to bind


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    parser = _util.base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each ingest phase (default 20)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    _util.header("Chatwoot isolation: ingest and another channel's reminders with a hanging Chatwoot", args)
    port_a = _util.free_port()
    fake_a = start_fake_a(port_a)
    hanging: Hanging | None = None
    with _util.temp_dir() as d, ServedFakeChatwoot() as cw_b:
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
                [_util.WASESSION, "channels", "add", "--skip-token-check", "--name", name, "--phone-number-id", phone],
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
            for channel_id, url, token in ((1, f"http://127.0.0.1:{port_a}", TOKEN_A), (2, cw_b.url, cw_b.fake.token)):
                api.put(f"/channels/{channel_id}/policy", json=POLICY).raise_for_status()
                connection = {"channel_id": channel_id, "url": url, "account_id": 1, "inbox_id": 1, "api_token": token}
                api.post("/chatwoot", json=connection).raise_for_status()
            results: dict[str, tuple[tuple[float, float], list[float]]] = {}
            with httpx.Client(base_url=base, timeout=60) as client:
                ingest_phase(client, min(seconds, 3.0))  # warm-up, not measured
                for phase in ("healthy", "hanging"):
                    if phase == "hanging":
                        stop(fake_a)
                        hanging = Hanging(port_a)
                    due = {} if args.quick else open_sessions(client, cw_b.fake, "1" if phase == "healthy" else "2")
                    figures = describe(f"ingest, A's Chatwoot {phase}", ingest_phase(client, seconds), _util.loadavg())
                    lags = reminder_lags(cw_b.fake, due, 90.0) if due else []
                    results[phase] = (figures, lags)
                    if lags:
                        p50, p99 = _util.percentile(lags, 50), _util.percentile(lags, 99)
                        print(f"B's reminders, A {phase:<8} n={len(lags)}/{len(due)}  p50 {p50:.2f} s  p99 {p99:.2f} s")
        finally:
            stop(server)
            stop(fake_a)
    held = hanging.accepted if hanging else 0
    if hanging:
        hanging.sock.close()
    healthy, hung = results["healthy"], results["hanging"]
    ratios = [hung[0][i] / healthy[0][i] if healthy[0][i] else 1.0 for i in (0, 1)]
    print(f"connections the hanging Chatwoot held: {held}")
    print(f"ingest ratio hanging / healthy: p50 {ratios[0]:.2f}  p99 {ratios[1]:.2f}  (target <= {BOUND})")
    reminders_ok = True
    if not args.quick:
        for phase, (_, lags) in results.items():
            slow = _util.percentile(lags, 99) if lags else float("inf")
            print(f"B's reminder lag p99 with A {phase}: {slow:.2f} s (target < {REMINDER_LAG_BOUND} s, all sent)")
            reminders_ok = reminders_ok and len(lags) == REMINDED and slow < REMINDER_LAG_BOUND
    return _util.verdict(
        "Chatwoot isolation", held > 0 and all(r <= BOUND for r in ratios) and reminders_ok, args.quick
    )


if __name__ == "__main__":
    raise SystemExit(main())

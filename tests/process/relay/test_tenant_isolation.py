"""Issue 25 through a real `serve` on a real port with two workspaces (SQLite and PostgreSQL): one tenant's
unreadable body, slow receivers or secret rotation never stops, starves or strands another's deliveries.

Each test failed on edca2c2: the poisoned row stopped every target (another tenant's forward never came
and `serve` logged ~90 tracebacks a second), eight slow receivers of A held both delivery pools (B's
forward took 97 s), and a rotation dropped the waiting bodies with no delivery record.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import fresh_postgres_url
from tests.support.processes import HTTP, run_cli
from tests.support.relay import Scripted
from tests.support.servers import Receiver, answer_after, answer_ok, serve
from tests.support.tenants import PHONES, SECRETS, tenant_env, two_tenants
from wasession.store import webhook_log
from wasession.store.db import connect
from wasession.whatsapp.signature import sign

QUOTA = 8


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    base = tenant_env(
        tmp_path,
        WASESSION_MAX_FORWARDS_PER_WORKSPACE=str(QUOTA),
        WASESSION_MAX_EVENT_WEBHOOKS_PER_WORKSPACE=str(QUOTA),
    )
    if request.param == "sqlite":
        yield base
    else:
        for url in fresh_postgres_url():
            yield {**base, "WASESSION_DATABASE_URL": url}


def wait_for(what: str, done: Callable[[], bool], seconds: float, folder: Path) -> float:
    """Seconds until `done()`; the log of serve on failure."""
    began = time.monotonic()
    while not done():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"{what}: not within {seconds} s\n{(folder / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.05)  # a real server delivering on the real clock
    return time.monotonic() - began


def log_directly(database_url: str, body: bytes, signature: str) -> int:
    """A row as an older ack logged it, before bodies were parsed with a depth bound at the door."""
    db = connect(database_url)
    try:
        with db.log.write() as conn:
            return webhook_log.append(conn, body, datetime.now(UTC), signature)
    finally:
        db.dispose()


def test_a_body_nobody_can_parse_costs_one_record_and_no_other_tenant_waits(
    tmp_path: Path, env: dict[str, str]
) -> None:
    crm_a, crm_b = Scripted(), Scripted()
    with serve(crm_a) as receiver_a, serve(crm_b) as receiver_b, two_tenants(tmp_path, env) as tenants:
        a, b = tenants["a"], tenants["b"]
        target_a = a.add_forward(receiver_a.url)
        b.add_forward(receiver_b.url)
        poison = (
            (b'{"phone_number_id":"' + PHONES["a"].encode() + b'","object":"whatsapp_business_account","entry":')
            + b"[" * 50_000
            + b"]" * 50_000
            + b"}"
        )
        poison_id = log_directly(env["WASESSION_DATABASE_URL"], poison, sign(SECRETS["a"], poison))
        raw, signature = b.body("after the poison")
        b.post_webhook(raw, signature)
        wait_for("B's forward", lambda: [body for body, _ in crm_b.taken] == [raw], 20, tmp_path)
        good_a = a.body("A goes on too")
        a.post_webhook(*good_a)
        wait_for("A's next forward", lambda: [body for body, _ in crm_a.taken] == [good_a[0]], 20, tmp_path)
        deliveries = a.call("GET", f"/channels/{a.channel_id}/forwards/{target_a}/deliveries").json()
        skipped = [d for d in deliveries["items"] if d["log_id"] == poison_id]
        assert [(d["outcome"], d["error"]) for d in skipped] == [("skipped", "unreadable_body: RecursionError")]
    log = (tmp_path / "serve.log").read_text()
    assert log.count(f"log id {poison_id} not forwarded") == 1  # once for A's target; B's never names it
    assert log.count("Traceback") <= 1  # at most the apply's one line for the row, never a storm


def processed(database_url: str, count: int) -> bool:
    db = connect(database_url)
    try:
        with db.log.read() as conn:
            done = conn.execute(text("SELECT count(*) FROM webhook_log WHERE processed_at IS NOT NULL")).scalar()
    finally:
        db.dispose()
    return int(done or 0) >= count


def test_bodies_waiting_for_a_target_are_forwarded_as_received_after_the_secret_rotates(
    tmp_path: Path, env: dict[str, str]
) -> None:
    crm = Scripted([503])  # the target is down for the first attempt; the retry comes 10 s later
    with serve(crm) as receiver, two_tenants(tmp_path, env) as tenants:
        a = tenants["a"]
        a.add_forward(receiver.url)
        bodies = [a.body(f"message {n}") for n in range(5)]
        a.post_webhook(*bodies[0])
        wait_for("the first, failed attempt", lambda: len(receiver.requests) >= 1, 20, tmp_path)
        for raw, signature in bodies[1:]:
            a.post_webhook(raw, signature)
        wait_for("the bodies applied", lambda: processed(env["WASESSION_DATABASE_URL"], 5), 30, tmp_path)
        rotated = a.call("PATCH", f"/channels/{a.channel_id}", json={"app_secret": "the-new-app-secret-0001"})
        assert rotated.status_code == 200, rotated.text
        wait_for("all five forwarded", lambda: len(crm.taken) >= 5, 60, tmp_path)
    assert crm.taken == bodies  # byte for byte, each with the signature it arrived with, in order


def slow_receiver_count(receiver: Receiver) -> int:
    return len(receiver.requests)


def add_event_webhook(tenant_call: Callable[..., httpx.Response], url: str) -> httpx.Response:
    return tenant_call("POST", "/event-webhooks", json={"url": url, "secret": "a-webhook-secret-0001"})


def test_one_workspace_slow_receivers_leave_another_its_forwards_and_events(
    tmp_path: Path, env: dict[str, str]
) -> None:
    b_events: list[float] = []

    def b_event(sock: socket.socket, receiver: Receiver) -> None:
        b_events.append(time.monotonic())
        answer_ok(sock, receiver)

    crm_b = Scripted()
    with (
        serve(answer_after(5.0)) as slow,
        serve(crm_b) as receiver_b,
        serve(b_event) as events_b,
        two_tenants(tmp_path, env) as tenants,
    ):
        a, b = tenants["a"], tenants["b"]
        for n in range(QUOTA):
            a.add_forward(f"{slow.url}?target={n}")
            made = add_event_webhook(a.call, f"{slow.url}?events={n}")
            assert made.status_code == 201, made.text
        # The quotas, named in the answer: A may not add a ninth; B is not counted against A.
        refused = a.call("POST", f"/channels/{a.channel_id}/forwards", json={"url": slow.url})
        assert refused.status_code == 409 and "WASESSION_MAX_FORWARDS_PER_WORKSPACE" in refused.text
        refused = add_event_webhook(a.call, slow.url)
        assert refused.status_code == 409 and "WASESSION_MAX_EVENT_WEBHOOKS_PER_WORKSPACE" in refused.text
        cli = run_cli(tmp_path, "forwards", "add", str(a.channel_id), slow.url, env=env)
        assert cli.returncode != 0 and "WASESSION_MAX_FORWARDS_PER_WORKSPACE" in cli.stderr, cli.stderr
        b.add_forward(receiver_b.url)
        assert add_event_webhook(b.call, events_b.url).status_code == 201

        def b_latency(text: str) -> tuple[float, float]:
            """Seconds from B's webhook to its forward and to its first event."""
            forwards, events = len(crm_b.taken), len(b_events)
            sent_at = time.monotonic()
            b.post_webhook(*b.body(text))
            forward = wait_for("B's forward", lambda: len(crm_b.taken) > forwards, 60, tmp_path)
            wait_for("B's event", lambda: len(b_events) > events, 60, tmp_path)
            return forward, b_events[events] - sent_at

        unattacked = b_latency("before the flood")
        for n in range(20):
            a.post_webhook(*a.body(f"flood {n}"))
        wait_for("A's receivers busy", lambda: slow_receiver_count(slow) >= 4, 20, tmp_path)
        attacked = b_latency("during the flood")
    # edca2c2: 97 s and 7-41 s. The bound leaves room for a loaded test machine but not for one slow answer
    # cycle of A's receivers per B's delivery; bench/tenant_fairness.py measures the ratio itself.
    assert attacked[0] <= 2 * unattacked[0] + 2.0, (unattacked, attacked)
    assert attacked[1] <= 2 * unattacked[1] + 2.0, (unattacked, attacked)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


LARGE = 10  # bodies of 2.9 MB: edca2c2 read 50 whole bodies at a time per target


def test_eight_targets_replaying_large_bodies_hold_a_few_bodies_each_and_give_the_memory_back(
    tmp_path: Path, env: dict[str, str]
) -> None:
    sink = Scripted()
    with serve(sink) as receiver, two_tenants(tmp_path, env) as tenants:
        a = tenants["a"]
        ids = []
        for n in range(LARGE):
            raw, _ = a.body(f"large {n}")
            data = json.loads(raw)
            data["entry"][0]["changes"][0]["value"]["padding"] = "x" * 2_900_000
            raw = json.dumps(data, separators=(",", ":")).encode()
            answer = HTTP.post(
                a.url + "/webhooks/whatsapp",
                content=raw,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(SECRETS["a"], raw)},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            ids.append(int(answer.json()["id"]))
        wait_for("the bodies applied", lambda: processed(env["WASESSION_DATABASE_URL"], LARGE), 120, tmp_path)
        pid = serve_pid(a.url)
        before = rss_mb(pid)
        targets = [a.add_forward(f"{receiver.url}?m={n}") for n in range(8)]
        peak = before

        def replayed() -> bool:
            nonlocal peak
            peak = max(peak, rss_mb(pid))
            return len(sink.taken) >= LARGE * len(targets)

        for target in targets:
            moved = a.call("POST", f"/channels/{a.channel_id}/forwards/{target}/replay", json={"from_log_id": ids[0]})
            assert moved.status_code == 200, moved.text
        wait_for("the replays", replayed, 300, tmp_path)
        after = rss_mb(pid)
    # edca2c2 read all ten (29 MB) per target at once and parsed them: several hundred MB at the peak.
    assert peak - before < 200, (before, peak, after)
    assert after - before < 50, (before, peak, after)


def serve_pid(url: str) -> int:
    """The pid of the `serve` listening on `url`'s port (the apply process is its child, not counted)."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and port.encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no serve process on port {port}")

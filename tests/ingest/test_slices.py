"""A large body is applied in slices of their own transactions: small webhooks posted meanwhile
are answered without waiting for it, and the body still ends stored and applied exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from wasession.ingest import slices
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.schema import messages, webhook_log
from wasession.testing import Simulator
from wasession.testing.harness import served
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

LARGE = 5000
P99_BOUND = 0.5  # seconds


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


def batch(pnid: str, sim: Simulator, n: int, prefix: str) -> dict[str, Any]:
    body = text_message_body(phone_number_id=pnid, wa_id="1", name="x", text="hi", timestamp=sim.now)
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"], value["messages"] = [], []
    for i in range(n):
        wa_id = f"{prefix}{i:08d}"
        one = text_message_body(
            phone_number_id=pnid, wa_id=wa_id, name=f"C {i}", text="x" * 300, timestamp=sim.now, wamid=new_wamid(wa_id)
        )["entry"][0]["changes"][0]["value"]
        value["contacts"] += one["contacts"]
        value["messages"] += one["messages"]
    return body


def inbound(sim: Simulator) -> int:
    with sim.runtime.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar() or 0)


def test_small_webhooks_are_answered_quickly_while_a_large_body_is_applied(sim: Simulator) -> None:
    ch = sim.add_channel()
    big = json.dumps(batch(ch.phone_number_id, sim, LARGE, "4477")).encode()
    assert len(big) > 2_000_000
    latencies: list[float] = []
    big_done: list[httpx.Response] = []
    with served(sim) as base, httpx.Client(base_url=base, timeout=600) as client:

        def post_big() -> None:
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(sim.app_secret, big)}
            big_done.append(client.post("/webhooks/whatsapp", content=big, headers=headers))

        thread = threading.Thread(target=post_big)
        thread.start()
        with httpx.Client(base_url=base, timeout=30) as small_client:
            n = 0
            while inbound(sim) == 0:  # the big body's first slice is in (a real server: real time)
                time.sleep(0.02)
            while thread.is_alive():
                n += 1
                raw = json.dumps(
                    text_message_body(
                        phone_number_id=ch.phone_number_id, wa_id=f"49{n:06d}", name="s", text="s", timestamp=sim.now
                    )
                ).encode()
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(sim.app_secret, raw)}
                started = time.perf_counter()
                assert small_client.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200
                latencies.append(time.perf_counter() - started)
        thread.join(600)
    assert big_done and big_done[0].status_code == 200
    assert len(latencies) >= 5, latencies  # they did run while the big body was being applied
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    p50 = latencies[len(latencies) // 2]
    print(f"\n{len(latencies)} small webhooks during a {len(big) / 1e6:.1f} MB, {LARGE}-message body: ", end="")
    print(f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    # The target is 250 ms on an idle machine; the bound here leaves room for a shared CI host
    # (measured 278 ms with eight engineers' test runs on two cores). The whole body takes seconds.
    assert p99 <= P99_BOUND
    assert inbound(sim) == LARGE + len(latencies)
    with sim.runtime.db.read() as conn:
        query = select(webhook_log.c.outcome).where(webhook_log.c.id == big_done[0].json()["id"])
        outcome = conn.execute(query).scalar()
    assert outcome["messages"] == LARGE and outcome["opened"] == LARGE


def test_a_large_body_is_applied_in_slices_and_its_replay_changes_nothing(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = sim.add_channel()
    transactions = [0]
    real = slices.SlicedBody.step

    def counted(self: slices.SlicedBody, ingestor: Any) -> bool:
        transactions[0] += 1
        return real(self, ingestor)

    monkeypatch.setattr(slices.SlicedBody, "step", counted)
    body = batch(ch.phone_number_id, sim, 3 * slices.SLICE + 1, "4488")
    first = sim.post_webhook(body)
    assert first.status_code == 200
    steps = transactions[0]
    assert steps >= 4 and inbound(sim) == 3 * slices.SLICE + 1  # at most SLICE updates per transaction
    assert sim.post_webhook(body).json()["id"] == first.json()["id"]
    assert transactions[0] == steps and inbound(sim) == 3 * slices.SLICE + 1

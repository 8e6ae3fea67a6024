"""The sandbox's webhook pump posts the fake Cloud API's status webhooks to a real port over a
bounded pool of keep-alive connections, concurrently, as Meta does (B7's status flood)."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.sandbox.pump import WebhookPump
from wasession.store.schema import webhook_log
from wasession.testing import Simulator
from wasession.testing.harness import served

SENDS = 40
CONCURRENCY = 8


def test_the_pump_delivers_every_status_concurrently_and_bounded() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ch = sim.add_channel()
        fake = FakeCloudApi(sim.clock, status_delays=(timedelta(0), timedelta(0)))
        token = "pump-token"
        fake.register(FakeNumber(phone_number_id=ch.phone_number_id, access_token=token, app_secret=sim.app_secret))
        graph = TestClient(fake.app)
        for i in range(SENDS):
            wa_id = f"4478{i:08d}"
            fake.customer_wrote(ch.phone_number_id, wa_id, sim.now)
            sent = graph.post(
                f"/v21.0/{ch.phone_number_id}/messages",
                json={"messaging_product": "whatsapp", "to": wa_id, "type": "text", "text": {"body": "hi"}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sent.status_code == 200, sent.text
        threads: set[str] = set()
        lock = threading.Lock()

        def observe(_hook: object, _at: float) -> None:
            with lock:
                threads.add(threading.current_thread().name)

        with served(sim) as base:
            pump = WebhookPump(fake, sim.clock, base + "/webhooks/whatsapp", concurrency=CONCURRENCY, observe=observe)
            try:
                assert pump.step() == 3 * SENDS  # sent, delivered and read for each
            finally:
                pump.close()
        assert (pump.delivered, pump.failed) == (3 * SENDS, 0)
        assert 1 < len(threads) <= CONCURRENCY
        with sim.runtime.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(webhook_log)).scalar() == 3 * SENDS

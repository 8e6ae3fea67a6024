"""Issue 12: logged webhook bodies are applied by the apply queue, behind the ack.

Bodies are logged through the ack path (`Ingestor.submit`, what the endpoint calls) with the
Simulator's apply-on-ack turned off, so each test decides when the queue runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from tests.service.simulator.test_ingest_group_commit import body
from wasession.ingest import IngestResult
from wasession.ingest.apply import BatchApply
from wasession.ingest.apply_queue import ApplyQueue
from wasession.observability import metrics
from wasession.runtime import Runtime
from wasession.sandbox.bodies import new_wamid
from wasession.store.schema import messages, sessions, webhook_log
from wasession.testing import Simulator

WAIT = 30.0  # seconds; only a bound for a broken implementation


@pytest.fixture
def quiet(any_sim: Simulator) -> Simulator:
    any_sim.apply_on_ack = False
    return any_sim


def signed(sim: Simulator, raw: bytes) -> str:
    return "sha256=" + hmac.new(sim.app_secret.encode(), raw, hashlib.sha256).hexdigest()


def ack(sim: Simulator, raw: bytes) -> IngestResult:
    """What the endpoint does after its signature check: log, answered once committed."""
    return sim.runtime.ingestor.submit(raw, signed(sim, raw)).result(WAIT)


def count(sim: Simulator, table: Any, *where: Any) -> int:
    with sim.runtime.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


def outcome(sim: Simulator, log_id: int | None) -> dict[str, Any]:
    with sim.runtime.db.read() as conn:
        row = conn.execute(select(webhook_log.c.outcome, webhook_log.c.processed_at).where(webhook_log.c.id == log_id))
        found = row.one()
    assert found[1] is not None
    return dict(found[0])


def test_a_logged_body_is_applied_only_by_the_queue_and_once(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    logged = ack(sim, body(sim, ch, "4911"))
    assert logged.log_id is not None and not logged.replay
    assert count(sim, sessions) == 0 and sim.runtime.ingestor.queue.backlog().depth == 1
    applied = sim.runtime.ingestor.drain()
    assert applied[logged.log_id].opened == 1
    assert sim.runtime.ingestor.drain() == {}  # processed: never claimed again
    assert count(sim, sessions) == 1 and sim.runtime.ingestor.queue.backlog().depth == 0


def test_r3_clamps_to_the_logged_arrival_not_the_apply_time(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel(session_timeout="24h")
    arrival = sim.now
    # A customer timestamp far in the future of our clock: R3 takes the arrival time instead.
    ahead = arrival + timedelta(hours=3)
    late = ack(sim, body(sim, ch, "4911", at=ahead))
    sim.clock.set(arrival + timedelta(hours=2))  # applied two hours after the ack
    sim.runtime.ingestor.drain()
    assert outcome(sim, late.log_id)["opened"] == 1
    t_late = sim.session(ch, wa_id="4911").last_customer_message_at
    # The same kind of body applied right at its arrival gives the same T relative to arrival.
    now = sim.now
    ack(sim, body(sim, ch, "4922", at=now + timedelta(hours=3)))
    sim.runtime.ingestor.drain()
    assert t_late == arrival
    assert sim.session(ch, wa_id="4922").last_customer_message_at == now
    assert sim.session(ch, wa_id="4911").closes_at == arrival + timedelta(hours=24)


def test_duplicates_and_out_of_order_bodies_follow_the_rules(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    t0 = sim.now
    wamid = new_wamid("4911")
    newer = ack(sim, body(sim, ch, "4911", text="second", at=t0, wamid=wamid))
    older = ack(sim, body(sim, ch, "4911", text="first", at=t0 - timedelta(minutes=5)))
    retry = ack(sim, body(sim, ch, "4911", text="second (retry)", at=t0, wamid=wamid))  # other bytes, same wamid
    replay = ack(sim, body(sim, ch, "4911", text="second", at=t0, wamid=wamid))  # the same bytes
    assert replay.replay and replay.log_id == newer.log_id
    sim.runtime.ingestor.drain()
    assert outcome(sim, newer.log_id)["opened"] == 1
    assert outcome(sim, older.log_id)["messages"] == 1  # R5: kept in the transcript...
    assert sim.session(ch, wa_id="4911").last_customer_message_at == t0  # ...and T does not move back
    assert outcome(sim, retry.log_id)["duplicates"] == 1  # R4
    assert count(sim, messages, messages.c.direction == "in") == 2


def raising_on(monkeypatch: pytest.MonkeyPatch, text: str, exc: Exception) -> list[int]:
    """Applying a message with this text writes it, then raises `exc` (undone with its savepoint);
    the list counts the tries."""
    real = BatchApply._message
    tries = [0]

    def apply_message(self: BatchApply, channel: Any, msg: Any, *args: Any) -> None:
        real(self, channel, msg, *args)
        if msg.text == text:
            tries[0] += 1
            raise exc

    monkeypatch.setattr(BatchApply, "_message", apply_message)
    return tries


def test_a_failing_body_is_marked_and_does_not_block_the_queue(
    quiet: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = quiet
    ch = sim.add_channel()
    raising_on(monkeypatch, "boom", RuntimeError("apply failed"))
    logged = [ack(sim, body(sim, ch, f"49{n:02d}", text="boom" if n == 2 else "hi")) for n in range(4)]
    applied = sim.runtime.ingestor.drain()
    assert applied[logged[2].log_id].error == "RuntimeError: apply failed"
    assert outcome(sim, logged[2].log_id)["error"] == "RuntimeError: apply failed"
    assert all(applied[r.log_id].opened == 1 for i, r in enumerate(logged) if i != 2)
    assert count(sim, sessions) == 3
    assert count(sim, webhook_log, webhook_log.c.failed.is_(True)) == 1
    assert sim.runtime.ingestor.queue.backlog().depth == 0  # marked: never retried by the queue


def test_a_body_that_keeps_conflicting_is_marked_and_the_others_applied(
    quiet: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = quiet
    ch = sim.add_channel()
    tries = raising_on(monkeypatch, "conflict", IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    logged = [ack(sim, body(sim, ch, f"49{n:02d}", text="conflict" if n == 1 else "hi")) for n in range(3)]
    applied = sim.runtime.ingestor.drain()
    assert tries[0] == 1 + 3  # once in the optimistic batch; then retried like a race, and given up
    assert (applied[logged[1].log_id].error or "").startswith("IntegrityError")
    assert count(sim, webhook_log) == 3  # acknowledged bodies are never removed
    assert count(sim, sessions) == 2


def test_a_batch_without_errors_uses_no_savepoints_and_one_transaction(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    savepoints: list[str] = []

    def on_savepoint(_conn: Any, name: str) -> None:
        savepoints.append(name)

    for n in range(20):
        ack(sim, body(sim, ch, f"49{n:02d}"))
    queue = sim.runtime.ingestor.queue
    before = queue.batches
    event.listen(sim.runtime.db.writer, "savepoint", on_savepoint)
    try:
        assert len(sim.runtime.ingestor.drain()) == 20
    finally:
        event.remove(sim.runtime.db.writer, "savepoint", on_savepoint)
    assert savepoints == [] and queue.batches == before + 1
    assert count(sim, sessions) == 20


def test_the_backlog_over_its_limit_shows_in_readyz_metrics_and_one_log_line(
    quiet: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = quiet
    ch = sim.add_channel()
    queue = sim.runtime.ingestor.queue
    queue.backlog_limit = 2
    assert sim.client.get("/readyz").status_code == 200
    for n in range(3):
        ack(sim, body(sim, ch, f"49{n:02d}"))
    with caplog.at_level(logging.WARNING, logger="wasession.ingest.apply_queue"):
        for _ in range(3):
            answer = sim.client.get("/readyz")
            assert answer.status_code == 503
    ready = answer.json()
    assert ready["status"] == "not_ready"
    assert ready["checks"]["apply_backlog_depth"] == 3
    assert "3 webhook bodies wait" in ready["checks"]["apply_backlog"] and "limit 2" in ready["checks"]["apply_backlog"]
    assert metrics.APPLY_BACKLOG._value.get() == 3
    said = [r.getMessage() for r in caplog.records if "backlog" in r.getMessage()]
    assert len(said) == 1 and "WASESSION_APPLY_BACKLOG_LIMIT=2" in said[0]
    sim.runtime.ingestor.drain()
    answer = sim.client.get("/readyz")
    assert answer.status_code == 200 and answer.json()["checks"]["apply_backlog"] == "ok"


def test_the_apply_lag_and_applied_bodies_are_measured(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    before_count = metrics.WEBHOOKS_APPLIED._value.get()
    lag_sum = metrics.WEBHOOK_APPLY_LAG._sum.get()
    ack(sim, body(sim, ch, "4911"))
    sim.clock.set(sim.now + timedelta(seconds=7))
    sim.runtime.ingestor.drain()
    assert metrics.WEBHOOKS_APPLIED._value.get() == before_count + 1
    assert metrics.WEBHOOK_APPLY_LAG._sum.get() - lag_sum == pytest.approx(7.0)


@pytest.mark.postgres
def test_two_appliers_on_postgresql_never_apply_one_row_twice(any_sim: Simulator) -> None:
    sim = any_sim
    if not sim.runtime.db.is_postgres:
        pytest.skip("SKIP LOCKED: PostgreSQL only")
    sim.apply_on_ack = False
    ch = sim.add_channel()
    n = 600
    for i in range(n):
        ack(sim, body(sim, ch, f"49{i:04d}"))
    other = Runtime(sim.runtime.settings, clock=sim.clock)  # a second process's applier, same database
    try:
        o = other.ingestor
        queues = [sim.runtime.ingestor.queue, ApplyQueue(o.ctx, o.credentials, o.applier, o.report, batch_size=50)]
        sim.runtime.ingestor.queue._batch_size = 50
        seen: list[list[int]] = [[], []]
        go = threading.Barrier(2)

        def run(k: int) -> None:
            go.wait(WAIT)
            while True:
                batch = queues[k].apply_batch()
                if not batch:
                    return
                seen[k].extend(r.log_id for r in batch if r.log_id is not None)

        threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 4)
    finally:
        other.stop()
    assert seen[0] and seen[1]  # both took part
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) + len(seen[1]) == n
    assert count(sim, sessions) == n and count(sim, messages) == n


def test_wait_applied_returns_once_another_thread_applied_the_body(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    logged = ack(sim, body(sim, ch, "4911"))
    assert logged.log_id is not None
    queue = sim.runtime.ingestor.queue
    assert not queue.wait_applied(logged.log_id, timeout=0.1)
    applier = threading.Thread(target=sim.runtime.ingestor.drain)
    applier.start()
    assert queue.wait_applied(logged.log_id, timeout=WAIT)
    applier.join(WAIT)
    assert count(sim, sessions) == 1

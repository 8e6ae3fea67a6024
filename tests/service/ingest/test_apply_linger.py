"""Under load the apply loop gathers bodies for APPLY_LINGER after a step that applied some, so an
apply transaction (and the hold on SQLite's one writer) serves many ack groups; at a low rate a
body is applied at once. On a fake monotonic clock: nothing here sleeps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wasession.ingest.apply_queue import ACK_BUSY, APPLY_LINGER, BUSY_BATCH, BUSY_LINGER, ApplyQueue
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.channels import Channel
from wasession.testing import Simulator


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def parts(sim: Simulator) -> tuple[Any, ...]:
    """What an `ApplyQueue` is given: the Simulator's own, so the queue under test applies its webhooks."""
    ingestor = sim.runtime.ingestor
    return (ingestor.ctx, ingestor.credentials, ingestor.applier, ingestor.report)


def log(sim: Simulator, ch: Channel, wa_id: str) -> None:
    """A body the endpoint would have acknowledged, logged and not applied."""
    body = text_message_body(
        phone_number_id=ch.phone_number_id, wa_id=wa_id, name=None, text="hi", timestamp=sim.now, wamid=new_wamid()
    )
    sim.runtime.ingestor.submit(json.dumps(body).encode()).result(timeout=10)


def test_a_step_right_behind_one_that_applied_waits_the_rest_of_the_linger() -> None:
    with Simulator() as sim:
        sim.apply_on_ack = False  # applied only by the queue under test
        ch = sim.add_channel()
        fake = FakeTime()
        queue = ApplyQueue(*parts(sim), monotonic=fake.monotonic, sleep=fake.sleep)

        log(sim, ch, "491510000001")
        assert queue.run() == 1
        assert fake.slept == []  # nothing applied before: at once

        fake.now += APPLY_LINGER / 4  # the next ack group commits 5 ms later
        log(sim, ch, "491510000002")
        log(sim, ch, "491510000003")
        assert queue.run() == 2
        assert fake.slept == [pytest.approx(APPLY_LINGER * 3 / 4)]

        assert queue.run() == 0  # woken with nothing to apply: waits, then records no step
        fake.slept.clear()
        assert queue.run() == 0
        assert fake.slept == []

        fake.now += 60.0  # a quiet minute: the next body is applied at once
        log(sim, ch, "491510000004")
        assert queue.run() == 1
        assert fake.slept == []


def test_while_webhooks_arrive_batches_are_bounded_and_steps_wait_longer_on_sqlite() -> None:
    with Simulator() as sim:
        sim.apply_on_ack = False
        ch = sim.add_channel()
        fake = FakeTime()
        queue = ApplyQueue(*parts(sim), monotonic=fake.monotonic, sleep=fake.sleep)
        waiting = BUSY_BATCH + BUSY_BATCH // 2
        for i in range(waiting):
            log(sim, ch, f"4915100{i:05d}")
        queue.acked()  # the ack just committed: the write lock is taken in short turns
        assert queue.run() == waiting
        assert queue.batches == 2  # BUSY_BATCH, then the rest

        fake.now += BUSY_LINGER / 5
        log(sim, ch, "491519999999")
        queue.acked()
        assert queue.run() == 1
        assert fake.slept == [pytest.approx(BUSY_LINGER * 4 / 5)]

        fake.now += ACK_BUSY + 1.0  # no ack since: one batch takes everything waiting
        for i in range(waiting):
            log(sim, ch, f"4915200{i:05d}")
        before = queue.batches
        assert queue.run() == waiting
        assert queue.batches == before + 1

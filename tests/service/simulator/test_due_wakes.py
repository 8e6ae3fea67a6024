"""Under `serve` the due loop runs in the apply process (runtime/apply_process.py): the wake-ups that
reached serve's own due loop reach the child's instead, and a batch the child's loop committed wakes
serve's loops and live pages without waking the due loop back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wasession.ingest import IngestResult
from wasession.testing import Simulator


class _Child:
    def __init__(self) -> None:
        self.due_wakes = 0

    def wake_due(self) -> None:
        self.due_wakes += 1


def test_wakes_for_the_due_loop_go_to_the_apply_process() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        workers = sim.runtime.workers
        child = _Child()
        workers.apply_process = child  # type: ignore[assignment]
        try:
            workers.wake_local()  # an API write: work may be due sooner
            assert child.due_wakes == 1
            workers.wake_local(due=False)  # the child's due loop itself just acted
            assert child.due_wakes == 1
            soon = IngestResult(due_at=sim.runtime.clock.now() + timedelta(seconds=0.5))
            assert workers.wake_after_ingest(soon) is True  # an applied batch made work due within a second
            assert child.due_wakes == 2
            later = IngestResult(due_at=sim.runtime.clock.now() + timedelta(hours=1))
            assert workers.wake_after_ingest(later) is False  # the loop's own next look is soon enough
            assert child.due_wakes == 2
            redrawn: list[str] = []
            sim.runtime.change_listeners.append(lambda: redrawn.append("live pages"))
            sim.runtime.wake_local(due=False)  # as serve hears of a due batch the child committed
            assert redrawn == ["live pages"] and child.due_wakes == 2  # not woken back
        finally:
            workers.apply_process = None


def test_a_wake_up_with_nothing_due_takes_no_write_lock() -> None:
    """The due loop is woken after many writes that made nothing due (under `serve`, each applied batch
    due within its sweep): it looks with a read first, so SQLite's one write lock stays with the sender
    and the apply; when something is due it claims it as before."""
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ch = sim.add_channel(session_timeout="2h")
        sim.customer_message(ch, wa_id="15550001111", text="hi")
        writes = 0
        db = sim.runtime.ctx.db
        real_write = db.write

        def counted() -> Any:
            nonlocal writes
            writes += 1
            return real_write()

        db.write = counted  # type: ignore[method-assign]
        try:
            assert sim.runtime.due.run_due().total == 0  # the closure is two hours away
            assert writes == 0
            sim.clock.advance(timedelta(hours=2, seconds=1))  # the clock alone: the Simulator's step would act
            assert sim.runtime.due.run_due().closed == 1
            assert writes == 1
        finally:
            db.write = real_write  # type: ignore[method-assign]

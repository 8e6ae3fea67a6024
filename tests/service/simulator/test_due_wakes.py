"""Under `serve` the due loop runs in the apply process (runtime/apply_process.py): the wake-ups that
reached serve's own due loop reach the child's instead, and a batch the child's loop committed wakes
serve's loops and live pages without waking the due loop back."""

from __future__ import annotations

from datetime import timedelta

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
            sim.runtime._due_acted()  # as serve hears of a due batch the child committed
            assert redrawn == ["live pages"] and child.due_wakes == 2  # not woken back
        finally:
            workers.apply_process = None

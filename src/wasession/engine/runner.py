"""Background loops for `serve` and `worker`: the due-work loop and the sender, each in a thread.

Each loop sleeps until its next due time or a wake-up, but never longer than `max_sleep` (real
seconds), so work made due by another process is picked up within that bound even without a
notification. The wait for a due time is clock time divided by the clock's speed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from wasession.domain.clock import Clock

log = logging.getLogger(__name__)

MIN_PAUSE = 0.02  # seconds


class Loop:
    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        next_at: Callable[[], datetime | None],
        clock: Clock,
        *,
        max_sleep: float = 1.0,
        wakeable: bool = True,
    ) -> None:
        """`wakeable=False` for housekeeping on a timer: a wake-up after every webhook would run it
        once per webhook."""
        self.name = name
        self.wakeable = wakeable
        self._step = step
        self._next_at = next_at
        self._clock = clock
        self._max_sleep = max_sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wasession-{name}", daemon=True)
        self.iterations = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        if self.wakeable:
            self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the step in progress (its transaction commits or rolls back whole), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _sleep_for(self) -> float:
        try:
            when = self._next_at()
        except Exception:
            log.exception("%s: could not read the next due time", self.name)
            return self._max_sleep
        if when is None:
            return self._max_sleep
        clock_seconds = (when - self._clock.now()).total_seconds()
        return max(0.0, min(self._max_sleep, clock_seconds / self._clock.speed))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._step()
            except Exception:
                # A lost database connection or a bug in one batch must not end the loop.
                log.exception("%s: step failed; retrying", self.name)
                self._stop.wait(1.0)
            self.iterations += 1
            # Work due but locked by another worker keeps the next due time in the past; pause
            # briefly rather than spin on it. Each step drains all it can, so this costs no precision.
            self._wake.wait(max(MIN_PAUSE, self._sleep_for()))

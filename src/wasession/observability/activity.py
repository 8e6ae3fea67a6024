"""INFO lines for what the service did and refused: a reminder sent or skipped, a session closed, a
webhook refused. The README's quick start says to watch the loop in the log; these are those lines.

Two guards keep the log readable at full throughput: a batch logs a line per item only while it is
small (`batch`), and a refusal repeated by a flood is logged once a second with a count (`Throttled`).
"""

from __future__ import annotations

import logging
import threading
import time

# A due batch of more than this many closures or reminders logs one summary line instead.
PER_ITEM = 20

log = logging.getLogger("wasession.activity")


def batch(lines: list[str], summary: str) -> None:
    """Each of `lines`, or `summary` (with their count as `{n}`) when there are more than PER_ITEM."""
    if not lines:
        return
    if len(lines) <= PER_ITEM:
        for line in lines:
            log.info("%s", line)
    else:
        log.info("%s", summary.format(n=len(lines)))


class Throttled:
    """At most one line per key per `every` real seconds; the next says how many were left out."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def info(self, key: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, float("-inf")) < self.every:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        log.info("%s%s", message, f" ({held} more like it since the last such line)" if held else "")

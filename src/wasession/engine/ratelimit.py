"""Per-channel send rate: a sliding-window log, so no one-second window ever holds more than the limit."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(seconds=1)


class SlidingWindowLimiter:
    def __init__(self) -> None:
        self._sent: dict[int, deque[datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: int, limit: int, now: datetime) -> datetime | None:
        """Reserve one send at `now`; None when allowed, else the earliest time a send is allowed."""
        with self._lock:
            log = self._sent.setdefault(key, deque())
            while log and log[0] + WINDOW <= now:
                log.popleft()
            while len(log) > limit:  # the limit was lowered
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return None
            return log[0] + WINDOW

"""Per-channel send rate: no one-second window ever holds more than the channel's limit.

One process keeps a sliding-window log in memory (`SlidingWindowLimiter`). Several processes share
the limit through PostgreSQL (`SharedRateLimiter`, ADR 0003): a channel with a limit of N has N
slots, each an advisory lock, and a send holds one slot for one second after its slot was taken.
At most N slots are held at any moment, so no second holds more than N sends, whichever process
made them; a process that dies loses its connection and PostgreSQL frees its slots at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from datetime import datetime, timedelta

from wasession.domain.clock import Clock
from wasession.store.db import Database, libpq_conninfo
from wasession.store.rate_slots import RateSlots, SlotsUnavailable

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=1)
# With every slot held by other processes we cannot know which frees first; ask again this soon.
RETRY_WHEN_FULL = timedelta(milliseconds=50)


class SharedRateLimiter:
    """The channel's limit shared by every process on one PostgreSQL database (ADR 0003).

    Times inside are monotonic seconds: the window is one real second.
    """

    def __init__(self, conninfo: str, *, window: float = 1.0) -> None:
        self._slots = RateSlots(conninfo)
        self._window = window
        # One lock for the connection and the list of held slots, so no take can see a slot as free
        # while this session still holds it.
        self._cond = threading.Condition()
        self._held: deque[tuple[float, int, int, int]] = deque()  # (release at, channel, lock key, slot)
        self._closed = False
        self._releaser = threading.Thread(target=self._release_loop, name="wasession-rate-release", daemon=True)
        self._releaser.start()

    def take(self, key: int, limit: int, now: datetime) -> datetime | None:
        with self._cond:
            mine = [slot for _, channel, _, slot in self._held if channel == key]
            try:
                row = self._slots.take(key, limit, random.randrange(limit), mine)
            except SlotsUnavailable as exc:
                # The server releases this session's slots with the connection; start afresh.
                log.warning("rate limiter: database unavailable (%s); deferring the send", exc)
                self._held.clear()
                return now + WINDOW
            if row is None:
                own = [at for at, channel, _, _ in self._held if channel == key]
                wait = max(RETRY_WHEN_FULL.total_seconds(), min(own) - time.monotonic()) if own else None
                return now + (timedelta(seconds=wait) if wait is not None else RETRY_WHEN_FULL)
            slot, lock_key = row
            self._held.append((time.monotonic() + self._window, key, lock_key, slot))
            self._cond.notify()
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._releaser.join(5.0)
        with self._cond:
            self._slots.close()
            self._held.clear()

    def _release_loop(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._held or self._held[0][0] > time.monotonic():
                    self._cond.wait(self._held[0][0] - time.monotonic() if self._held else None)
                    continue
                now = time.monotonic()
                due: list[tuple[float, int, int, int]] = []
                while self._held and self._held[0][0] <= now:
                    due.append(self._held.popleft())
                try:
                    self._slots.release([d[2] for d in due], [d[3] for d in due])
                except SlotsUnavailable:
                    log.warning("rate limiter: could not release slots; reconnecting")
                    self._held.clear()


def limiter_for(db: Database, clock: Clock) -> SharedRateLimiter | None:
    """Shared through the database when several processes may send; None otherwise, where the
    sender's own held slots (outbox/limits.py) are the whole limit.

    SQLite serves one box with one writer process, and a manual clock (the Simulator) runs one
    process whose time is not the real second the shared slots are held for.
    """
    if db.is_postgres and clock.is_real:
        return SharedRateLimiter(libpq_conninfo(db.url))
    return None

"""Per-channel send rate: no one-second window ever holds more than the channel's limit.

One process keeps a sliding-window log in memory (`SlidingWindowLimiter`). Several processes share
the limit through PostgreSQL (`SharedRateLimiter`, ADR 0003): a channel with a limit of N has N
slots, each an advisory lock, and a send holds one slot for one second after its slot was taken.
At most N slots are held at any moment, so no second holds more than N sends, whichever process
made them; a process that dies loses its connection and PostgreSQL frees its slots at once.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import psycopg

from wasession.domain.clock import Clock
from wasession.store.db import Database, libpq_conninfo

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=1)
# With every slot held by other processes we cannot know which frees first; ask again this soon.
RETRY_WHEN_FULL = timedelta(milliseconds=50)


# One statement per take: walk the channel's slots from a random start (so processes rarely race
# for the same one) and lock the first free slot. The CASE keeps this session from re-taking a slot
# it already holds: PostgreSQL advisory locks are re-entrant within one session.
_TAKE = """
SELECT s.k, hashtext(current_schema() || ':wasession-rate:' || %(key)s::text)
FROM (SELECT (g + %(offset)s) %% %(n)s AS k FROM generate_series(0, %(n)s - 1) AS g) AS s
WHERE CASE WHEN s.k = ANY(%(mine)s::int[]) THEN false
           ELSE pg_try_advisory_lock(hashtext(current_schema() || ':wasession-rate:' || %(key)s::text), s.k)
      END
LIMIT 1
"""
_RELEASE = "SELECT pg_advisory_unlock(a, b) FROM unnest(%s::int[], %s::int[]) AS t(a, b)"


class SharedRateLimiter:
    """The channel's limit shared by every process on one PostgreSQL database (ADR 0003).

    Times inside are monotonic seconds: the window is one real second.
    """

    def __init__(self, conninfo: str, *, window: float = 1.0) -> None:
        self._conninfo = conninfo
        self._window = window
        self._conn: psycopg.Connection[Any] | None = None
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
                row = (
                    self._connection()
                    .execute(_TAKE, {"key": key, "n": limit, "offset": random.randrange(limit), "mine": mine})
                    .fetchone()
                )
            except psycopg.Error as exc:
                # The server releases this session's slots with the connection; start afresh.
                log.warning("rate limiter: database unavailable (%s); deferring the send", type(exc).__name__)
                self._drop_connection()
                return now + WINDOW
            if row is None:
                own = [at for at, channel, _, _ in self._held if channel == key]
                wait = max(RETRY_WHEN_FULL.total_seconds(), min(own) - time.monotonic()) if own else None
                return now + (timedelta(seconds=wait) if wait is not None else RETRY_WHEN_FULL)
            self._held.append((time.monotonic() + self._window, key, int(row[1]), int(row[0])))
            self._cond.notify()
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._releaser.join(5.0)
        with self._cond:
            self._drop_connection()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def _drop_connection(self) -> None:
        """Called with the lock held."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
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
                if self._conn is None:
                    continue  # the connection went away, and the server freed the slots with it
                try:
                    self._conn.execute(_RELEASE, ([d[2] for d in due], [d[3] for d in due]))
                except psycopg.Error:
                    log.warning("rate limiter: could not release slots; reconnecting")
                    self._drop_connection()


def limiter_for(db: Database, clock: Clock) -> SharedRateLimiter | None:
    """Shared through the database when several processes may send; None otherwise, where the
    sender's own held slots (outbox/limits.py) are the whole limit.

    SQLite serves one box with one writer process, and a manual clock (the Simulator) runs one
    process whose time is not the real second the shared slots are held for.
    """
    if db.is_postgres and clock.is_real:
        return SharedRateLimiter(libpq_conninfo(db.url))
    return None

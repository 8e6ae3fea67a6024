"""A re-entrant lock that hands itself to waiters in the order they came.

SQLite has one writer. With a plain lock, a thread that writes batch after batch (the due loop
with a million reminders falling due) releases and takes the lock again before a woken waiter
gets the GIL, so the sender and the webhook writer can wait for minutes. Here release gives the
lock straight to the longest waiter, so every writer gets its turn after at most one transaction
of each writer ahead of it.
"""

from __future__ import annotations

import threading
from collections import deque


class FairRLock:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            turn = (me, threading.Event())
            self._waiters.append(turn)
        if turn[1].wait(None if timeout < 0 else timeout):
            return True  # release() made this thread the owner before setting the event
        with self._guard:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and taking the guard

    def release(self) -> None:
        with self._guard:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                owner, event = self._waiters.popleft()
                self._owner, self._depth = owner, 1
                event.set()
            else:
                self._owner = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

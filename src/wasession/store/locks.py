"""A re-entrant lock that hands itself to waiters in the order they came.

SQLite has one writer. With a plain lock, a thread that writes batch after batch (the due loop
with a million reminders falling due) releases and takes the lock again before a woken waiter
gets the GIL, so the sender and the webhook writer can wait for minutes. Here release gives the
lock straight to the longest waiter, so every writer gets its turn after at most one transaction
of each writer ahead of it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from pathlib import Path


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

    @property
    def outermost(self) -> bool:
        """The calling thread holds the lock once (not re-entered)."""
        return self._owner == threading.get_ident() and self._depth == 1

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


WRITER_LOCK_SUFFIX = "-writer.lock"
_FIRST_PAUSE = 0.00005
_LONGEST_PAUSE = 0.001


class WriterFile:
    """SQLite's one write lock, taken by processes in turn: an flock on a file beside the database.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so a writer in another
    process (the ack beside `serve`'s apply process) found the lock free on average half a sleep late.
    Here a waiter looks again after 50 µs, doubling to at most 1 ms. One thread per process holds it
    (the FairRLock's owner), so one descriptor serves the process. The SQLite busy handler stays as
    the fallback for writers that do not take this file (an older wasession, the sqlite3 shell)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._opening = threading.Lock()

    def _file(self) -> int:
        with self._opening:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._fd

    def acquire(self, timeout: float) -> None:
        """Take the lock; TimeoutError after `timeout` seconds."""
        fd = self._file()
        pause = _FIRST_PAUSE
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.path} held by another process for {timeout:g}s") from None
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

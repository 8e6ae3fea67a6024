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
WRITER_QUEUE_SUFFIX = "-writer.next"
_FIRST_PAUSE = 0.00005
_LONGEST_PAUSE = 0.001


class WriterFile:
    """SQLite's one write lock, taken by processes in turn: an flock on a file beside the database.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so a writer in another
    process (the ack beside `serve`'s apply process) found the lock free on average half a sleep late.
    Here a waiter looks again after 50 µs, doubling to at most 1 ms. One thread per process holds it
    (the FairRLock's owner), so one descriptor serves the process. The SQLite busy handler stays as
    the fallback for writers that do not take this file (an older wasession, the sqlite3 shell).

    Processes alternate: a process waits for the lock only while it holds a second file, the place
    next in line (`-writer.next`), and gives that place up once it has the lock. Without it, a process
    with two writer threads (the apply process's apply and due loops) handed the lock from one to the
    other within the process, its flock retaken in microseconds, while `serve`'s sender, looking once
    a millisecond, waited 11 of the 26 seconds of a B7 run (150–460 ms a turn at its start). Now the
    next writer of the process that just wrote finds the other's waiter in that place and waits behind it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue_path = Path(str(path).removesuffix(WRITER_LOCK_SUFFIX) + WRITER_QUEUE_SUFFIX)
        self._fd: int | None = None
        self._queue_fd: int | None = None
        self._opening = threading.Lock()

    def _files(self) -> tuple[int, int]:
        with self._opening:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if self._queue_fd is None:
                self._queue_fd = os.open(self.queue_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._fd, self._queue_fd

    def acquire(self, timeout: float) -> None:
        """Take the lock; TimeoutError after `timeout` seconds."""
        fd, queue_fd = self._files()
        deadline = time.monotonic() + timeout
        # The place in line even when the lock looks free: the lock is free for a moment at every hand-over,
        # and the waiter in that place, looking once a millisecond, must not lose it to a writer just come.
        _wait_for(queue_fd, deadline, timeout, self.queue_path)
        try:
            _wait_for(fd, deadline, timeout, self.path)
        finally:
            fcntl.flock(queue_fd, fcntl.LOCK_UN)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def _take(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _wait_for(fd: int, deadline: float, timeout: float, path: Path) -> None:
    pause = _FIRST_PAUSE
    while not _take(fd):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{path} held by another process for {timeout:g}s")
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)

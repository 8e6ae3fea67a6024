"""SQLite's write lock taken in turn by processes (store/locks.py WriterFile), with a real second process."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wasession.store.db import connect
from wasession.store.locks import WRITER_LOCK_SUFFIX, WriterFile

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_writer_waits_for_another_process_and_takes_the_lock_once_it_is_free(tmp_path: Path) -> None:
    lock = WriterFile(tmp_path / "db-writer.lock")
    other = hold(lock.path, 0.5)
    started = time.monotonic()
    lock.acquire(timeout=10)
    waited = time.monotonic() - started
    other.wait(5)
    lock.release()
    assert 0.2 < waited < 5  # it waited for the holder, and no longer than it held the lock and then some


def test_a_lock_held_too_long_is_a_timeout_not_a_hang(tmp_path: Path) -> None:
    lock = WriterFile(tmp_path / "db-writer.lock")
    other = hold(lock.path, 5)
    try:
        with pytest.raises(TimeoutError, match="held by another process"):
            lock.acquire(timeout=0.2)
    finally:
        other.kill()
        other.wait(5)
    lock.acquire(timeout=5)  # free again once the holder is gone (the kernel drops a dead process's lock)
    lock.release()


def test_every_sqlite_write_takes_the_lock_file_beside_the_database(tmp_path: Path) -> None:
    db_file = tmp_path / "w.sqlite3"
    db = connect(f"sqlite:///{db_file}")
    lock_file = Path(str(db_file) + WRITER_LOCK_SUFFIX)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            probe = WriterFile(lock_file)  # another descriptor: as another process sees it
            with pytest.raises(TimeoutError):
                probe.acquire(timeout=0.05)
        probe.acquire(timeout=1)  # released with the transaction
        probe.release()
        assert lock_file.stat().st_mode & 0o777 == 0o600
    finally:
        db.dispose()


AGAIN = """
import sys, time
from pathlib import Path
from wasession.store.locks import WriterFile
lock = WriterFile(Path(sys.argv[1]))
lock.acquire(timeout=10)
print("held", flush=True)
sys.stdin.readline()
lock.release()
started = time.monotonic()
lock.acquire(timeout=10)  # straight back, as a second writer thread of the same process would
print(f"again {time.monotonic() - started:.3f}", flush=True)
lock.release()
"""


def test_a_process_that_lets_the_lock_go_waits_behind_another_processs_waiter(tmp_path: Path) -> None:
    lock = WriterFile(tmp_path / "db-writer.lock")
    other = subprocess.Popen(
        [sys.executable, "-c", AGAIN, str(lock.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdin is not None and other.stdout is not None
    try:
        assert other.stdout.readline() == "held\n"
        got: list[float] = []
        waiter = threading.Thread(target=lambda: (lock.acquire(timeout=10), got.append(time.monotonic())))
        waiter.start()
        deadline = time.monotonic() + 10
        while _free(lock.queue_path):  # until the waiter holds the place next in line
            assert time.monotonic() < deadline, "the waiter never took its place next in line"
        other.stdin.write("go\n")
        other.stdin.flush()
        waiter.join(10)
        assert got, "the waiter did not get the lock once the other process let it go"
        time.sleep(0.3)  # hold it: the other process, asking again at once, must wait for this release
        lock.release()
        again = other.stdout.readline()
        assert again.startswith("again ") and float(again.split()[1]) >= 0.25, again
    finally:
        other.kill()
        other.wait(5)


def _free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)

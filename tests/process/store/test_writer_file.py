"""SQLite's write lock taken in turn by processes (store/locks.py WriterFile), with a real second process."""

from __future__ import annotations

import subprocess
import sys
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

"""SQLite: this process's writers take turns on a lock of their own before BEGIN IMMEDIATE (issue 6)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import wasession.store.db
from wasession.store.db import connect


def test_a_write_holds_the_process_lock_until_it_commits(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    lock = db._local_writer
    assert lock is not None
    taken: list[bool] = []

    def try_take() -> None:
        got = lock.acquire(blocking=False)
        taken.append(got)
        if got:
            lock.release()

    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            other = threading.Thread(target=try_take)
            other.start()
            other.join()
        try_take()
        assert taken == [False, True]
    finally:
        db.dispose()


def test_a_writer_that_cannot_get_the_lock_in_time_fails_like_a_busy_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = connect(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    monkeypatch.setattr(wasession.store.db, "SQLITE_BUSY_SECONDS", 0.0)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db.write():
                pass
        except OperationalError as exc:
            errors.append(exc)

    try:
        with db.write():
            other = threading.Thread(target=write)
            other.start()
            other.join()
        assert len(errors) == 1 and "database is locked" in str(errors[0])
        write()  # free again
        assert len(errors) == 1
    finally:
        db.dispose()


def test_postgres_has_no_process_lock() -> None:
    assert wasession.store.db.Database("postgresql://x", None, None)._local_writer is None  # type: ignore[arg-type]

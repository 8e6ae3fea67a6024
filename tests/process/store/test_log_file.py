"""Issue 21: on SQLite the webhook log is a file of its own beside the database, with its own writer
lock, so the ack's commits never wait for an apply transaction; migration 0013 moves an existing log."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from wasession.ingest import group_commit
from wasession.store import migrate, webhook_log
from wasession.store.db import connect, log_file_path
from wasession.store.locks import WRITER_LOCK_SUFFIX, WriterFile
from wasession.store.schema import webhook_log as log_table

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


def test_the_log_file_sits_beside_the_database_private_with_a_lock_of_its_own(tmp_path: Path) -> None:
    main = tmp_path / "wasession.sqlite3"
    db = connect(f"sqlite:///{main}")
    try:
        log = tmp_path / "wasession-webhooks.sqlite3"
        assert log_file_path(main) == log and db.log_apart
        assert log.stat().st_mode & 0o777 == 0o600
        with db.log.write() as conn:
            group_commit.log_bodies(conn, [(b"{}", None, webhook_log.KIND_CUSTOMER)], NOW)
        assert Path(str(log) + WRITER_LOCK_SUFFIX).exists()
        assert "webhook_log" in inspect(db.log.writer).get_table_names()
        with db.read() as conn:  # the main database's readers see the log (attached)
            assert webhook_log.backlog(conn) == 1
    finally:
        db.dispose()


def test_postgres_keeps_the_log_a_table_of_the_database(database_url: str) -> None:
    db = connect(database_url)
    try:
        assert (db.log is db) == db.is_postgres
        assert db.log_apart == db.is_sqlite
    finally:
        db.dispose()


HOLD_MAIN = """
import sys, time
from wasession.store.db import connect
db = connect(sys.argv[1])
with db.write() as conn:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_an_ack_commits_while_another_process_holds_the_main_databases_write_lock(tmp_path: Path) -> None:
    """What the apply process holds (the main file's write lock and its lock file) never delays the ack."""
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    db = connect(url)
    other = subprocess.Popen([sys.executable, "-c", HOLD_MAIN, url, "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "held\n"
        started = time.monotonic()
        with db.log.write() as conn:
            group_commit.log_bodies(conn, [(b'{"a":1}', None, webhook_log.KIND_CUSTOMER)], NOW)
        assert time.monotonic() - started < 2  # not the 5 s the other process holds the main database
        with pytest.raises(TimeoutError):  # the main database's lock is held indeed
            WriterFile(Path(str(tmp_path / "w.sqlite3") + WRITER_LOCK_SUFFIX)).acquire(timeout=0.05)
    finally:
        other.kill()
        other.wait(5)
        db.dispose()


def test_an_ack_in_this_process_does_not_wait_for_its_apply_transaction(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    done = threading.Event()
    try:
        with db.write():  # an apply transaction, held while the ack thread logs a body
            thread = threading.Thread(target=lambda: (_log_one(db), done.set()), daemon=True)
            thread.start()
            assert done.wait(5)
        thread.join(5)
    finally:
        db.dispose()


def _log_one(db: object) -> None:
    from wasession.store.db import Database

    assert isinstance(db, Database)
    with db.log.write() as conn:
        group_commit.log_bodies(conn, [(b'{"b":2}', None, webhook_log.KIND_CUSTOMER)], NOW)


def test_upgrading_from_0012_moves_the_log_with_its_ids_and_its_high_water_mark(database_url: str) -> None:
    db = connect(database_url)
    try:
        migrate.upgrade(db, "0012_templates_failures")
        at = "2026-12-05 10:00:00.000000" if db.is_sqlite else "2026-12-05 10:00:00+00"
        with db.writer.begin() as conn:  # rows as 0012 wrote them, in the main database
            for i, processed in ((3, True), (7, False), (9, True)):
                conn.execute(
                    text(
                        "INSERT INTO webhook_log (id, received_at, body, processed_at, signature, body_sha256,"
                        " unroutable, failed) VALUES (:id, :at, :body, :done, 'sha256=x', :hash, false, false)"
                    ),
                    {
                        "id": i,
                        "at": at,
                        "body": f"body {i}".encode(),
                        "done": at if processed else None,
                        "hash": f"h{i}",
                    },
                )
            if db.is_sqlite:  # the newest bodies were pruned: their ids must never come back
                conn.execute(text("UPDATE sqlite_sequence SET seq = 12 WHERE name = 'webhook_log'"))
            else:
                conn.execute(text("SELECT setval(pg_get_serial_sequence('webhook_log', 'id'), 12)"))
        if db.is_sqlite:  # a crash after the copy, before the drop: a row is there already
            with db.log.write() as conn:
                conn.execute(
                    text(
                        "INSERT INTO webhook_log (id, received_at, body, processed_at, signature, body_sha256, kind)"
                        " VALUES (3, :at, :body, :at, 'sha256=x', 'h3', 0)"
                    ),
                    {"at": at, "body": b"body 3"},
                )
        migrate.upgrade(db)
        assert migrate.is_current(db)
        if db.is_sqlite:
            assert "webhook_log" not in inspect(db.writer).get_table_names()
        with db.read() as conn:
            rows = conn.execute(select(log_table.c.id, log_table.c.body, log_table.c.kind).order_by(log_table.c.id))
            assert [(r[0], bytes(r[1]), r[2]) for r in rows] == [
                (3, b"body 3", 0),
                (7, b"body 7", 0),
                (9, b"body 9", 0),
            ]
            assert webhook_log.backlog(conn) == 1  # body 7 still waits to be applied
        with db.log.write() as conn:
            fresh = group_commit.log_bodies(conn, [(b"new", None, webhook_log.KIND_STATUSES)], NOW)
        assert fresh[0].log_id == 13
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(log_table)).scalar() == 4
    finally:
        db.dispose()

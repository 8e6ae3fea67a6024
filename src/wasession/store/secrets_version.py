"""A counter bumped with every change to which app secret vouches for which number.

The ack keeps the channels' decrypted app secrets in memory and reads this one row once per group
commit, before logging bodies judged against them (`ingest/group_commit.py`): a rotation committed
by any process (the API, the dashboard, the CLI) is seen by the very next body, and the secrets are
read and decrypted again only when it moved.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from wasession.store.db import Connection, Database, IntegrityError
from wasession.store.schema import secrets_version

_CURRENT = select(secrets_version.c.version).where(secrets_version.c.id == 1)
_BUMP = update(secrets_version).where(secrets_version.c.id == 1).values(version=secrets_version.c.version + 1)


def bump(conn: Connection) -> None:
    """In the transaction that changes a channel's secret, number or business account id."""
    if conn.execute(_BUMP).rowcount:
        return
    savepoint = conn.begin_nested()  # the first change ever: the row is created with it
    try:
        conn.execute(secrets_version.insert().values(id=1, version=1))
        savepoint.commit()
    except IntegrityError:  # another process created it a moment ago
        savepoint.rollback()
        conn.execute(_BUMP)


def current(conn: Connection) -> int:
    return int(conn.execute(_CURRENT).scalar() or 0)


class VersionReader:
    """`current` for a request in flight. On SQLite through a connection of its own per thread, in
    autocommit (a few microseconds: cheap enough for the event loop); elsewhere through the pool."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        self._path: str | None = None
        if db.is_sqlite:
            database = make_url(db.url).database
            self._path = str(Path(database).resolve()) if database else None

    @property
    def cheap(self) -> bool:
        """Whether `read` is cheap enough to call from the event loop."""
        return self._path is not None

    def read(self) -> int:
        if self._path is None:
            with self._db.read() as conn:
                return current(conn)
        raw: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if raw is None:
            raw = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._local.conn = raw
            with self._lock:
                self._opened.append(raw)
        row = raw.execute("SELECT version FROM secrets_version WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close every connection opened (with the database's own, when the runtime stops)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for raw in opened:
            raw.close()
        self._local = threading.local()

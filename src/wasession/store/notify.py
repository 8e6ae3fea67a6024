"""Cross-process wake-ups on PostgreSQL: NOTIFY after a commit that made work due sooner, LISTEN in
every process that runs loops.

A notification only shortens a sleep: each loop also wakes at its next due time and at least every
`max_sleep`, so a notification lost while a listener reconnects delays work by at most that bound,
and a listener wakes its loops once more after every reconnect to cover the gap.

Channels are database-wide, so the payload names the schema (tests share one database, each in its
own schema) and the publishing process, which has already woken its own loops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from wasession.store.db import KEEPALIVES, Database, libpq_conninfo

if TYPE_CHECKING:  # imported by the listener's thread: a SQLite process never loads the driver
    import psycopg

log = logging.getLogger(__name__)

CHANNEL = "wasession_due"
RECONNECT_MIN = 0.2
RECONNECT_MAX = 5.0
POLL = 1.0  # how often the listener looks at its stop flag


def publish(db: Database, owner: str) -> None:
    """Tell the other processes to look for due work now. Call after the commit, never inside it:
    a failure here must not undo work already committed."""
    try:
        with db.write() as conn:
            conn.execute(
                text("SELECT pg_notify(:channel, current_schema() || '|' || :owner)"),
                {"channel": CHANNEL, "owner": owner},
            )
    except Exception as exc:  # the loops' own timers still pick the work up
        log.warning("could not notify other processes: %s", type(exc).__name__)


class DueListener:
    """LISTENs on a dedicated connection in a thread and calls `on_notify` for relevant notifications."""

    def __init__(self, db: Database, owner: str, on_notify: Callable[[], None]) -> None:
        self._conninfo = libpq_conninfo(db.url)
        self._owner = owner
        self._on_notify = on_notify
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.received = 0
        self.reconnects = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="wasession-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        delay = RECONNECT_MIN
        while not self._stop.is_set():
            try:
                self._listen()
                delay = RECONNECT_MIN
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("listener: connection lost (%s); reconnecting in %.1fs", type(exc).__name__, delay)
                self._stop.wait(delay)
                delay = min(RECONNECT_MAX, delay * 2)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5, **KEEPALIVES) as conn:  # type: ignore[arg-type]
            row = conn.execute("SELECT current_schema()").fetchone()
            schema = str(row[0]) if row else ""
            conn.execute(f"LISTEN {CHANNEL}")
            if self.reconnects:
                log.info("listener: reconnected")
            self.reconnects += 1
            self.connected.set()
            self._on_notify()  # notifications sent while this connection was away are gone: look now
            while not self._stop.is_set():
                for note in conn.notifies(timeout=POLL):
                    note_schema, _, owner = note.payload.partition("|")
                    if note_schema == schema and owner != self._owner:
                        self.received += 1
                        self._on_notify()

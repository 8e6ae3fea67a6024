"""The sessions one apply batch reads and changes, kept current in memory.

Applying a batch of webhooks reads each session it touches once (`load`, one query for the whole
batch), decides every change with `domain.transitions` against the in-memory row, and leaves the
writing to one `SessionWrites`, flushed with the batch: the same writes, in the same order, as
applying each change at once, in a few set-based statements. Sessions the batch opens are kept
under stand-in (negative) ids and inserted together, as they are at the flush, in one statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wasession.domain.records import evolve
from wasession.domain.transitions import Change
from wasession.lifecycle.session_writes import SessionWrites
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.sessions import SessionRow

_NEW_SESSION_DEFAULTS: dict[str, Any] = {
    "closed_at": None,
    "close_reason": None,
    "window_closed_early_at": None,
    "reminder_reason": None,
    "claimed_until": None,
    "claimed_by": None,
    "reminder_step": 1,
    "snoozed_until": None,
}


class BatchSessions:
    def __init__(self, writes: SessionWrites) -> None:
        self.writes = writes
        self._by_id: dict[int, SessionRow] = {}
        self._active: dict[tuple[int, int], int] = {}  # (channel id, contact id) -> session id
        self._contacts_loaded: set[int] = set()  # contacts whose active sessions are all in `_active`
        self._new_contacts: set[int] = set()  # created in this batch: no session but those opened here
        self._opened: list[int] = []  # stand-in ids of the sessions opened and not inserted yet
        self.stored_ids: dict[int, int] = {}  # stand-in id -> stored id, once inserted

    def load_active(self, conn: Connection, contact_ids: Iterable[int]) -> None:
        """Read the active sessions of these contacts (every channel), in one query per thousand."""
        wanted = set(contact_ids) - self._contacts_loaded
        for row in session_store.active_for_contacts(conn, wanted):
            self._keep(row)
        self._contacts_loaded |= wanted

    def load(self, conn: Connection, session_ids: Iterable[int]) -> None:
        """Read these sessions (those not read yet), in one query per thousand."""
        for row in session_store.get_many(conn, set(session_ids) - self._by_id.keys()):
            self._keep(row)

    def new_contact(self, contact_id: int) -> None:
        self._contacts_loaded.add(contact_id)
        self._new_contacts.add(contact_id)

    def get(self, conn: Connection, session_id: int) -> SessionRow | None:
        if session_id not in self._by_id:
            self.load(conn, [session_id])
        return self._by_id.get(session_id)

    def active(self, conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
        if contact_id not in self._contacts_loaded:
            self.load_active(conn, [contact_id])
        session_id = self._active.get((channel_id, contact_id))
        return self._by_id[session_id] if session_id is not None else None

    def latest(self, conn: Connection, channel_id: int, contact_id: int) -> SessionRow | None:
        """The contact's newest session in the channel: the active one, else the newest stored (a
        batch only opens active sessions, so an inactive one is as stored, but for changes kept here)."""
        active = self.active(conn, channel_id, contact_id)
        if active is not None or contact_id in self._new_contacts:
            return active
        stored = session_store.latest_for(conn, channel_id, contact_id)
        if stored is None:
            return None
        return self._by_id.setdefault(stored.id, stored)

    def open(self, conn: Connection, channel: Channel, contact_id: int, change: Change) -> SessionRow:
        """The session `transitions.opened` describes, under a stand-in id until `insert_opened`
        writes it; its events are gathered."""
        assert change.plan is not None, "a session opens with a plan"
        assert change.reminder is None and change.closing is None, "opening queues no message"
        opened_at = change.fields["last_customer_at"]
        session_id = -1 - len(self.stored_ids) - len(self._opened)
        self._opened.append(session_id)
        values: dict[str, Any] = {**_NEW_SESSION_DEFAULTS, **change.fields}
        row = SessionRow(id=session_id, channel_id=channel.id, contact_id=contact_id, opened_at=opened_at, **values)
        self._contacts_loaded.add(contact_id)
        self._keep(row)
        self.writes.apply(conn, channel, session_id, Change(events=change.events))
        return row

    def change(self, conn: Connection, channel: Channel, session: SessionRow, change: Change) -> None:
        """Gather `change` of `session` for the flush, and keep the row as it will be written."""
        if change.empty:
            return
        if session.id in self.stored_ids:  # a row read before its session was inserted mid-batch
            session = self._by_id[self.stored_ids[session.id]]
        if session.id < 0:
            assert change.reminder is None and change.closing is None, "a message names its session by id"
        self.writes.apply(conn, channel, session.id, change)
        if change.fields:
            self._keep(evolve(self._by_id.get(session.id, session), **change.fields))

    def current_id(self, session_id: int) -> int:
        """The id to write for `session_id`: its stored id once a session opened by the batch is inserted."""
        return self.stored_ids.get(session_id, session_id)

    def insert_opened(self, conn: Connection) -> dict[int, int]:
        """Insert the sessions opened since the last flush, as they are now (every change gathered
        for them included), in one statement; their stored ids by stand-in id. Before anything
        that names them is written."""
        if not self._opened:
            return {}
        rows = [self._by_id.pop(i) for i in self._opened]
        ids = dict(zip(self._opened, session_store.insert_rows(conn, rows), strict=True))
        self._opened = []
        self.stored_ids.update(ids)
        for row in rows:
            self._keep(evolve(row, id=ids[row.id]))
        self.writes.rename_sessions(ids, inserted=True)
        return ids

    def flush(self, conn: Connection) -> None:
        """Write the gathered updates and events (after `insert_opened`)."""
        assert not self._opened, "insert the opened sessions first"
        self.writes.flush(conn)

    def refresh(self, conn: Connection, session_id: int) -> None:
        """Read a session again after a write that bypassed the batch (after a flush only)."""
        row = session_store.get(conn, session_id)
        if row is not None:
            self._keep(row)

    def _keep(self, row: SessionRow) -> None:
        self._by_id[row.id] = row
        key = (row.channel_id, row.contact_id)
        if row.active:
            self._active[key] = row.id
        elif self._active.get(key) == row.id:
            del self._active[key]

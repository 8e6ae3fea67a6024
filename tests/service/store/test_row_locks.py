"""Row locks on PostgreSQL. A transaction that writes a row referring to a session or a send (an event, a
message, its pricing) holds a key-share lock on that session or send: the foreign key's check. The app's
own locks are FOR NO KEY UPDATE, which a key-share lock does not block, so the due loop does not pass
such a session over and a batch does not wait to read it. They still exclude each other."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from tests.conftest import fresh_postgres_url
from wasession.store import sessions as session_store
from wasession.testing import Simulator

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_sim() -> Iterator[Simulator]:
    urls = fresh_postgres_url()
    url = next(urls)
    try:
        with Simulator(start="2026-01-05T15:00:00Z", database_url=url) as sim:
            yield sim
    finally:
        urls.close()


def _refer_to(conn: Connection, session_id: int) -> None:
    """An event for the session, left uncommitted: its foreign key holds a key-share lock on the session."""
    conn.execute(
        text(
            "INSERT INTO events (workspace_id, channel_id, session_id, type, at, data)"
            " SELECT ch.workspace_id, s.channel_id, s.id, 'session_assigned', now(), '{}'"
            " FROM sessions s JOIN channels ch ON ch.id = s.channel_id WHERE s.id = :id"
        ),
        {"id": session_id},
    )


def _fail_fast(conn: Connection) -> None:
    conn.execute(text("SET LOCAL lock_timeout = '2s'"))  # a lock wait fails the test instead of hanging it


def test_a_session_another_transaction_refers_to_is_claimed_and_read_without_waiting(pg_sim: Simulator) -> None:
    sim = pg_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id="4915112345678")
    session_id = sim.session(ch, wa_id="4915112345678").id
    later = sim.now + timedelta(days=2)  # the session's reminder and closure are both due by then
    db = sim.runtime.db
    with db.writer.connect() as holder, holder.begin():
        _refer_to(holder, session_id)
        with db.writer.connect() as worker:
            with worker.begin():
                _fail_fast(worker)
                assert [row.id for row in session_store.claim_due(worker, later, 10)] == [session_id]
            with worker.begin():
                _fail_fast(worker)
                assert [row.id for row in session_store.get_many(worker, [session_id])] == [session_id]


def test_two_transactions_locking_one_session_still_take_turns(pg_sim: Simulator) -> None:
    sim = pg_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id="4915112345678")
    session_id = sim.session(ch, wa_id="4915112345678").id
    db = sim.runtime.db
    with db.writer.connect() as first, first.begin():
        assert [row.id for row in session_store.get_many(first, [session_id])] == [session_id]
        with db.writer.connect() as second, second.begin():
            assert session_store.claim_due(second, sim.now + timedelta(days=2), 10) == []  # skipped: locked
            _fail_fast(second)
            with pytest.raises(OperationalError, match="lock timeout"):
                session_store.get_many(second, [session_id])

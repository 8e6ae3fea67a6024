"""A batch's marks on the webhook log: every row gets its own time and outcome, whether the batch shares
them (one statement) or not, on SQLite (the log a file of its own) and PostgreSQL (a table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from wasession.config import Settings
from wasession.runtime import Runtime
from wasession.store import webhook_log
from wasession.store.db import VALUES_PER_IN_LIST
from wasession.store.webhook_log import Outcome


def test_marks_with_shared_and_distinct_outcomes_land_on_their_rows(migrated_database_url: str) -> None:
    runtime = Runtime(Settings(database_url=migrated_database_url))
    try:
        runtime.migrate()
        received = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
        count = VALUES_PER_IN_LIST + 3  # one distinct outcome over more ids than one IN (…) takes
        with runtime.db.log.write() as conn:
            ids = [webhook_log.append(conn, b'{"n":%d}' % n, received, None) for n in range(count + 3)]
        status, failed, unroutable = Outcome(statuses=1), Outcome(error="ValueError: bad"), Outcome(unroutable=("1",))
        later = received + timedelta(seconds=1)
        marks = [(i, later, status) for i in ids[:count]]
        marks += [(ids[count], later, failed), (ids[count + 1], received, unroutable)]  # the last id stays unmarked
        webhook_log.mark_applied(runtime.db, marks)

        with runtime.db.read() as conn:
            bodies = {body.id: body for body in _listed(conn, limit=count + 10)}
            assert [b.id for b in _listed(conn, failed_only=True)] == [ids[count]]
            assert [b.id for b in _listed(conn, unroutable_only=True)] == [ids[count + 1]]
        for log_id, at, outcome in marks:
            assert bodies[log_id].processed_at == at
            assert bodies[log_id].outcome == outcome
        assert bodies[ids[-1]].processed_at is None and bodies[ids[-1]].outcome is None
        with runtime.db.read() as conn:
            assert webhook_log.backlog(conn) == 1
    finally:
        runtime.stop()


def _listed(
    conn: Connection, *, limit: int = 100, failed_only: bool = False, unroutable_only: bool = False
) -> list[webhook_log.LoggedBody]:
    return webhook_log.listed(
        conn, since=None, log_id=None, failed_only=failed_only, unroutable_only=unroutable_only, after_id=0, limit=limit
    )

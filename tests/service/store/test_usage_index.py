"""R23: the monthly cap's count reads the partial index of automated sends, on both databases."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

from sqlalchemy import text

from wasession.domain.pricing import AUTOMATED_KINDS
from wasession.store import migrate
from wasession.store import usage as usage_store
from wasession.store.db import connect
from wasession.store.schema import AUTOMATED_SQL


def test_the_migration_indexes_exactly_the_automated_kinds() -> None:
    migration = importlib.import_module("wasession.store.migrations.versions.0006_pricing_usage")
    assert migration._AUTOMATED == AUTOMATED_SQL
    assert all(f"'{kind}'" in AUTOMATED_SQL for kind in AUTOMATED_KINDS)


def test_the_cap_count_uses_the_partial_index(database_url: str) -> None:
    db = connect(database_url)
    try:
        migrate.upgrade(db)
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
        with db.write() as conn:
            assert usage_store.automated_count(conn, 1, start, end) == 0
            sql = "SELECT count(*) FROM messages WHERE channel_id = 1 AND direction = 'out' AND " + AUTOMATED_SQL
            if conn.dialect.name == "sqlite":
                plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            else:
                conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table would be scanned
                plan = " ".join(str(r[0]) for r in conn.execute(text("EXPLAIN " + sql)))
        assert "ix_messages_automated" in plan
    finally:
        db.dispose()

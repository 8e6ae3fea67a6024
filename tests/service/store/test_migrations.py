"""Migrations create exactly the tables in `store/schema.py`, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from wasession.store import migrate
from wasession.store.db import connect
from wasession.store.schema import metadata, webhook_log


def _tables(*, log: bool) -> object:
    """Alembic's include_object: the webhook log's table alone, or every other table."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return type_ != "table" or (name == webhook_log.name) == log

    return include


def test_migrations_match_the_schema_and_are_idempotent(database_url: str) -> None:
    db = connect(database_url)
    try:
        assert migrate.current_revision(db) is None
        migrate.upgrade(db)
        migrate.upgrade(db)  # a second run changes nothing
        assert migrate.is_current(db)
        assert migrate.current_revision(db) == migrate.HEAD
        main = (
            {"compare_type": True} if db.is_postgres else {"compare_type": True, "include_object": _tables(log=False)}
        )
        with db.writer.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts=main), metadata)
        assert diffs == []
        if db.is_sqlite:  # the log in its own file, with the table store/db.py creates there
            with db.log.writer.connect() as conn:
                opts = {"compare_type": True, "include_object": _tables(log=True)}
                diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
            assert diffs == []
    finally:
        db.dispose()


def test_the_head_constant_is_alembics_newest_revision() -> None:
    """Readiness and start-up compare against HEAD without importing Alembic; a new migration
    must move it."""
    assert migrate.head_revision() == migrate.HEAD


def test_a_database_one_revision_behind_is_not_current_and_upgrades(database_url: str) -> None:
    db = connect(database_url)
    try:
        migrate.upgrade(db, "0001")
        assert migrate.current_revision(db) == "0001" and not migrate.is_current(db)
        migrate.upgrade(db)
        assert migrate.is_current(db)
    finally:
        db.dispose()


def test_in_memory_sqlite_is_refused_with_a_reason() -> None:
    import pytest

    with pytest.raises(ValueError, match="in-memory SQLite"):
        connect("sqlite:///:memory:")
    with pytest.raises(ValueError, match="use sqlite"):
        connect("mysql://root@localhost/test")

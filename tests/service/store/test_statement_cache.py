"""The engines of one process share one dialect and one cache of compiled statements (store/db.py): a
statement compiled for one database is not compiled again for the next, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from tests.conftest import fresh_postgres_url
from wasession.store import migrate
from wasession.store.db import Database, connect
from wasession.store.schema import channels


@contextmanager
def _another(database_url: str, tmp_path: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.sqlite3'}"
    else:
        urls = fresh_postgres_url()
        try:
            yield next(urls)
        finally:
            next(urls, None)  # drops the schema


def _run(db: Database) -> object:
    """How SQLAlchemy came by the compiled form of a statement no other test builds."""
    statement = select(channels.c.id, channels.c.name).where(channels.c.name == "statement-cache-test")
    with db.read() as conn:
        result = conn.execute(statement)
        result.all()
        return result.context.cache_hit


def test_a_second_database_reuses_what_the_first_compiled(database_url: str, tmp_path: Path) -> None:
    with _another(database_url, tmp_path) as second_url:
        first = connect(database_url)
        migrate.upgrade(first)  # connected: its dialect knows the server, and is shared from now on
        second = connect(second_url)
        try:
            migrate.upgrade(second)
            dialect = first.reader.dialect
            assert second.reader.dialect is dialect and second.writer.dialect is dialect
            assert _run(first) == dialect.CACHE_MISS
            assert _run(second) == dialect.CACHE_HIT
        finally:
            first.dispose()
            second.dispose()

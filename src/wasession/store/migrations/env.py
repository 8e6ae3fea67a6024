"""Alembic environment. Runs on the connection handed over by wasession.store.migrate."""

from __future__ import annotations

from alembic import context

from wasession.store.schema import metadata, webhook_log

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `wasession migrate` (wasession.store.migrate.upgrade)")
_SQLITE = connection.dialect.name == "sqlite"


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """On SQLite the webhook log is a file of its own (store/db.py), not a table of this database."""
    return not (_SQLITE and type_ == "table" and name == webhook_log.name)


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=_SQLITE,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

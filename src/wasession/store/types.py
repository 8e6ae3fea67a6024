"""Column types shared by the schema, the migrations and the statements sent to the driver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, UTC in storage on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text, so every stored value must have one format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # SQLite: straight between aware datetimes and the stored text, in the same format SQLAlchemy's
    # DATETIME writes, skipping its two-stage conversion; every claimed session carries nine of them.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def sqlite_text(value: datetime) -> str:
    """An aware datetime as SQLite stores it (what UTCDateTime binds), for statements sent to the driver."""
    text = _sqlite_text(value)
    assert text is not None
    return text


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
    # Every row a batch writes or reads converts several of these: the offset is cut off as text and
    # added back as text (the UTC singleton comes back), not by `replace`, at under half the CPU.
    return value.isoformat(" ", "microseconds")[:-6]


def _sqlite_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    if len(value) == _STORED_LENGTH:  # as `_sqlite_text` writes it: UTC without the offset
        return datetime.fromisoformat(value + "+00:00")
    parsed = datetime.fromisoformat(value)  # written by SQL of its own (a migration, CURRENT_TIMESTAMP)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_STORED_LENGTH = len("2026-01-01 00:00:00.000000")

"""`store.db.executemany` writes on SQLite exactly what `conn.execute(statement, rows)` writes: the same
statements run both ways on two databases leave equal tables; what only SQLAlchemy's own path does
(an expanding bind, a key the rows lack) still goes that way, and answers as SQLAlchemy does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import StatementError

from wasession.store.db import UTCDateTime, executemany

meta = MetaData()
rows_table = Table(
    "rows",
    meta,
    Column("id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("at", UTCDateTime),
    Column("data", JSON),
    Column("flag", Boolean, nullable=False, server_default="0"),
)
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
_INSERT = insert(rows_table)
_BY_ID = rows_table.c.id == bindparam("b_id")
_UPDATE = update(rows_table).where(_BY_ID)
_FIXED = update(rows_table).where(_BY_ID).values(status="fixed", at=bindparam("now"))
_STILL_NEW = rows_table.c.status == "new"
_CASE = (
    update(rows_table).where(_BY_ID).values(status=case((_STILL_NEW, "taken"), else_=rows_table.c.status), flag=True)
)
_EXPANDING = update(rows_table).where(rows_table.c.id.in_(bindparam("b_ids", expanding=True))).values(status="x")

STEPS: list[tuple[Any, list[dict[str, Any]]]] = [
    (
        _INSERT,
        [
            {"id": 1, "status": "new", "at": T0, "data": {"a": [1, "é"]}, "flag": False},
            {"id": 2, "status": "old", "at": T0.astimezone(timezone(timedelta(hours=5))), "data": None, "flag": True},
            {"id": 3, "status": "new", "at": None, "data": {"b": None}, "flag": False},
        ],
    ),
    (
        _UPDATE,
        [{"b_id": 1, "status": "sent", "at": T0 + timedelta(microseconds=7)}, {"b_id": 2, "status": "read", "at": T0}],
    ),
    (_FIXED, [{"b_id": 2, "now": T0 + timedelta(days=400)}, {"b_id": 9, "now": T0}]),
    (_CASE, [{"b_id": 1}, {"b_id": 3}, {"b_id": 2}]),
]


def _table(conn: Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(select(rows_table).order_by(rows_table.c.id))]


def _raw(conn: Connection) -> list[tuple[Any, ...]]:
    return list(conn.exec_driver_sql("SELECT * FROM rows ORDER BY id"))


def _run(fast: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    engine = create_engine("sqlite://")
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    meta.create_all(engine)
    with engine.begin() as conn:
        for statement, rows in STEPS:
            if fast:
                executemany(conn, statement, rows)
            else:
                conn.execute(statement, rows)
        return _table(conn), _raw(conn), sent


def test_the_driver_path_writes_what_sqlalchemy_writes() -> None:
    fast_rows, fast_raw, fast_sql = _run(fast=True)
    slow_rows, slow_raw, _ = _run(fast=False)
    assert fast_rows == slow_rows
    assert fast_raw == slow_raw  # the stored text too: SQLite compares datetimes as text
    assert [r[1:3] for r in fast_rows] == [
        ("sent", T0 + timedelta(microseconds=7)),
        ("fixed", T0 + timedelta(days=400)),
        ("taken", None),
    ]
    assert [r[4] for r in fast_rows] == [True, True, True]
    assert all("?" in sql for sql in fast_sql if sql.startswith(("INSERT", "UPDATE")))


def test_a_statement_only_sqlalchemy_can_run_takes_its_path() -> None:
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        executemany(conn, _INSERT, STEPS[0][1])
        with pytest.raises(StatementError, match="expanding"):  # SQLAlchemy's own refusal
            executemany(conn, _EXPANDING, [{"b_ids": [1, 2]}, {"b_ids": [3]}])
        with pytest.raises(StatementError, match="b_id"):  # SQLAlchemy's own error names the missing key
            executemany(conn, _UPDATE, [{"status": "a"}, {"status": "b"}])

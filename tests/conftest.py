"""Shared fixtures. Store tests run on SQLite always and on PostgreSQL when one is reachable.

PostgreSQL: WASESSION_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Each test
gets a schema of its own, so parallel workers never see each other's rows. With
WASESSION_REQUIRE_POSTGRES=1 (CI) an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
# tests/<tier>/...: each tier is a marker of the same name (docs/decisions/0008-test-tiers.md), so
# `pytest -m "(unit or service) and not postgres and not slow"` is the loop between two edits and
# `-m "not process"` leaves out the tests that start real processes.
TIERS = ("unit", "service", "http", "browser", "process")
PG_URL = os.environ.get("WASESSION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("WASESSION_REQUIRE_POSTGRES") == "1"

_pg_reachable: bool | None = None


def postgres_reachable() -> bool:
    global _pg_reachable
    if _pg_reachable is None:
        import psycopg

        try:
            with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
                _pg_reachable = True
        except psycopg.Error:
            _pg_reachable = False
    return _pg_reachable


def fresh_postgres_url() -> Iterator[str]:
    """A URL whose connections use a new, empty schema; dropped afterwards."""
    import psycopg

    if not postgres_reachable():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (WASESSION_REQUIRE_POSTGRES=1) but {PG_URL} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}; set WASESSION_TEST_POSTGRES_URL to run these tests")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        yield from fresh_postgres_url()


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """`database_url` for a Simulator. On SQLite the file is put there already at the newest revision, a copy
    of one this process migrated once, as the Simulator's own database is: migrating the file for each of
    these tests cost more than the rest of its Simulator. A fresh PostgreSQL schema is migrated by the
    Simulator; tests/service/store/test_migrations.py still migrates both databases from nothing."""
    if database_url.startswith("sqlite:///"):
        from wasession.runtime import Runtime

        Runtime.new_sqlite_database(Path(database_url.removeprefix("sqlite:///")))
    return database_url


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "whatsapp-webhooks" / name).read_text())
    return data


# Costliest tier first: with `-n 2` the minutes-long process tests (most of them wait on a real clock)
# start at once and the many short tests fill the other worker around them, instead of two long
# tests being the last ones left while the other worker idles (`--dist worksteal` evens the tail).
_FIRST = {"process": 0, "browser": 1, "http": 2, "service": 3, "unit": 4}


def pytest_configure(config: pytest.Config) -> None:
    """With PYTHONDONTWRITEBYTECODE set, every process the suite starts (serve, its apply process, each
    CLI command: a few hundred) compiled the package from source at its start, about 0.3 s of CPU a
    serve and 0.1 s a command. Compile it once here, before any worker starts; Python reads a .pyc
    that exists whatever that variable says. Without the variable this finds them up to date.

    The same variable made pytest rewrite the asserts of every test module in every worker of every run
    (about 3 s of CPU a worker for the whole suite, 2 s for the loop between two edits). Each process now
    keeps what it rewrote, so a later run reads it; pytest rewrites a module again when its source changes."""
    sys.dont_write_bytecode = False
    if hasattr(config, "workerinput"):  # an xdist worker: the controller compiled already
        return
    import compileall

    import wasession

    compileall.compile_dir(Path(wasession.__file__).parent, quiet=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    rank: dict[str, int] = {}
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if parts and parts[0] in TIERS:
            item.add_marker(parts[0])
        rank[item.nodeid] = _FIRST.get(parts[0], len(_FIRST)) if parts else len(_FIRST)
    items.sort(key=lambda item: rank[item.nodeid])  # stable: a module's tests stay together, in order


@pytest.fixture(autouse=True)
def _data_folder_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the developer's real data folder: a command given no database URL opens
    the one in WASESSION_HOME (README, "Where the data lives"), which is a temporary folder here."""
    if "WASESSION_HOME" not in os.environ:
        monkeypatch.setenv("WASESSION_HOME", str(tmp_path_factory.mktemp("wasession-home")))


# scrypt's cost factor for passwords hashed inside the test processes. The product's (16 MiB, about 40 ms
# a hash, services/users.py) is checked in tests/service/web/test_auth.py; elsewhere a password is only
# the way into a page, and the suite logs in several hundred times. A hash carries its own cost in its
# string, so verifying one runs the same code as in production; processes the tests start (serve, the
# CLI) keep the product's cost.
TEST_SCRYPT_N = 2**10
PRODUCT_SCRYPT_N: list[int] = []  # the product's cost, as the module had it before the fixture


@pytest.fixture(autouse=True, scope="session")
def _cheaper_password_hashes() -> Iterator[None]:
    from wasession.services import users as user_service

    PRODUCT_SCRYPT_N.append(user_service._N)
    user_service._N = TEST_SCRYPT_N
    yield
    user_service._N = PRODUCT_SCRYPT_N.pop()

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres_url
from wasession.testing import Simulator

# `WASESSION_TEST_DATABASE=postgresql` runs every `sim` test on PostgreSQL instead of SQLite (CI does both).
TEST_DATABASE = os.environ.get("WASESSION_TEST_DATABASE", "sqlite")


@pytest.fixture
def sim_database_url(tmp_path: Path) -> Iterator[str | None]:
    if TEST_DATABASE == "postgresql":
        yield from fresh_postgres_url()
    elif TEST_DATABASE == "sqlite":
        yield None  # the Simulator's own temporary SQLite file
    else:
        raise pytest.UsageError(f"WASESSION_TEST_DATABASE={TEST_DATABASE!r}: use sqlite or postgresql")


@pytest.fixture
def sim(sim_database_url: str | None) -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z", database_url=sim_database_url) as s:
        yield s


@pytest.fixture
def any_sim(migrated_database_url: str) -> Iterator[Simulator]:
    """The same Simulator on SQLite and, when reachable, PostgreSQL."""
    with Simulator(start="2026-01-05T15:00:00Z", database_url=migrated_database_url) as s:
        yield s

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.conftest import fresh_postgres_url
from wasession.testing import Simulator

ANA = "15550001111"
BRUNO = "15550002222"
# As in tests/service: `WASESSION_TEST_DATABASE=postgresql` runs these Simulators on PostgreSQL.
TEST_DATABASE = os.environ.get("WASESSION_TEST_DATABASE", "sqlite")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture
def sim_database_url() -> Iterator[str | None]:
    if TEST_DATABASE == "postgresql":
        yield from fresh_postgres_url()
    else:
        yield None  # the Simulator's own temporary SQLite file


@pytest.fixture
def sim(sim_database_url: str | None) -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z", database_url=sim_database_url) as s:
        yield s


@pytest.fixture
def quiet_sim(sim_database_url: str | None) -> Iterator[Simulator]:
    """No delivery receipts from the fake: the test feeds the statuses itself."""
    with Simulator(start="2026-01-05T15:00:00Z", database_url=sim_database_url, status_delays=None) as s:
        yield s

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wasession.testing import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


@pytest.fixture
def any_sim(database_url: str) -> Iterator[Simulator]:
    """The same Simulator on SQLite and, when reachable, PostgreSQL."""
    with Simulator(start="2026-01-05T15:00:00Z", database_url=database_url) as s:
        yield s

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from wasession.testing import Simulator

ANA = "15550001111"
BRUNO = "15550002222"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s

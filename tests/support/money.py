"""A Simulator per database (SQLite and, when reachable, PostgreSQL) with an API key, for the money rules
of 2026 (docs/rules.md R23): Meta's calendar, rate cards, the budget and marketing opt-outs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.processes import HTTP
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.testing import Simulator


@dataclass
class Money:
    sim: Simulator
    key: str
    database_url: str
    workspace_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def usage(self, url: str, channel_id: int, month: str) -> dict[str, Any]:
        """`GET /api/v1/channels/{id}/usage` on the served Simulator at `url`."""
        answer = HTTP.get(f"{url}/api/v1/channels/{channel_id}/usage", params={"month": month}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def money(migrated_database_url: str) -> Iterator[Money]:
    with Simulator(start="2026-09-01T09:00:00Z", database_url=migrated_database_url) as sim:
        workspace = channel_service.default_workspace(sim.runtime.ctx)
        key = key_service.create_key(sim.runtime.ctx, workspace_id=workspace, name="money").secret
        yield Money(sim, key, migrated_database_url, workspace)

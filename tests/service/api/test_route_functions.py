"""Route handlers are plain module-level functions (issue 24): a test imports one and calls it with a
runtime of its own, no app, no HTTP. The same answers come back over HTTP (the app only adds the
runtime from the request and the key check)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from wasession.api import health
from wasession.api.v1 import sessions
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import workspaces as workspace_service
from wasession.services.errors import NotFoundError
from wasession.testing import Simulator


def test_a_session_handler_called_directly_answers_as_over_http() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        channel = sim.add_channel()
        sim.customer_message(channel, wa_id="15550001111", text="Is my order ready?")
        session = sim.session(channel, wa_id="15550001111")
        ws = channel_service.default_workspace(sim.runtime.ctx)

        direct = sessions.get_session(runtime=sim.runtime, session_id=session.id, ws=ws)

        assert direct.session.id == session.id and direct.session.status == "active"
        assert [m.body for m in direct.transcript] == ["Is my order ready?"]
        key = key_service.create_key(sim.runtime.ctx, workspace_id=ws, name="t").secret
        over_http = sim.client.get(f"/api/v1/sessions/{session.id}", headers={"Authorization": f"Bearer {key}"})
        assert over_http.status_code == 200
        assert over_http.json() == direct.model_dump(mode="json")


def test_a_handler_called_directly_keeps_workspaces_apart() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        channel = sim.add_channel()
        sim.customer_message(channel, wa_id="15550001111")
        session = sim.session(channel, wa_id="15550001111")
        other = workspace_service.create_workspace(sim.runtime.ctx, "other")

        with pytest.raises(NotFoundError):  # answered 404 over HTTP
            sessions.get_session(runtime=sim.runtime, session_id=session.id, ws=other.id)


def test_an_async_handler_called_directly_reads_its_runtimes_clock() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        sim.advance("90m")

        # In a thread of its own: a worker that ran a browser test first keeps Playwright's event loop
        # running in this thread (the session's chromium), and asyncio.run refuses to nest in it.
        with ThreadPoolExecutor(1) as thread:
            answer = thread.submit(asyncio.run, health.healthz(runtime=sim.runtime)).result()

        assert answer == {"status": "ok", "now": "2026-01-05T16:30:00+00:00"}

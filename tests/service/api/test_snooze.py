"""Snooze over HTTP (issue 13, R20): the Simulator's app served by uvicorn on a free localhost port,
on the Simulator's manual clock."""

from __future__ import annotations

from datetime import datetime

import httpx

from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import workspaces as workspace_service
from wasession.testing import Simulator
from wasession.testing.harness import served

ANA = "15550001111"
BO = "15550002222"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_snooze_and_wake_over_http_on_a_real_port() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ctx = sim.runtime.ctx
        key = key_service.create_key(ctx, workspace_id=channel_service.default_workspace(ctx), name="a").secret
        other = key_service.create_key(
            ctx, workspace_id=workspace_service.create_workspace(ctx, "b").id, name="b"
        ).secret
        ch = sim.add_channel(session_timeout="2h")
        sim.customer_message(ch, wa_id=ANA, name="Ana")
        sid = sim.session(ch, wa_id=ANA).id
        with served(sim) as url:
            api = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {key}"})
            outsider = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {other}"})

            snoozed = api.post(f"/sessions/{sid}/snooze", json={"until": "2026-01-05T18:00:00Z"})
            assert snoozed.status_code == 200, snoozed.text
            body = snoozed.json()
            assert (body["snoozed_until"], body["closes_at"]) == ("2026-01-05T18:00:00Z", "2026-01-05T20:00:00Z")

            refused = api.post(f"/sessions/{sid}/snooze", json={"until": "yesterday"})
            assert refused.status_code == 422
            assert refused.json()["error"]["field"] == "until" and "it was 'yesterday'" in refused.text
            past = api.post(f"/sessions/{sid}/snooze", json={"until": "2026-01-05T14:00:00Z"})
            assert past.status_code == 422 and "after now" in past.text
            assert outsider.post(f"/sessions/{sid}/snooze", json={"until": "2h"}).status_code == 404
            assert outsider.delete(f"/sessions/{sid}/snooze").status_code == 404
            assert api.get(f"/sessions/{sid}").json()["session"]["snoozed_until"] == "2026-01-05T18:00:00Z"
            sim.customer_message(ch, wa_id=BO, name="Bo")  # not snoozed: the filter leaves Bo out
            listed = api.get("/sessions", params={"snoozed": "true"}).json()
            assert ([s["id"] for s in listed["items"]], listed["total"]) == ([sid], 1)
            awake = api.get("/sessions", params={"snoozed": "false"}).json()["items"]
            assert [s["contact_wa_id"] for s in awake] == [BO]

            sim.advance("1h")  # 16:00
            woke = api.delete(f"/sessions/{sid}/snooze")
            assert woke.status_code == 200, woke.text
            assert (woke.json()["snoozed_until"], woke.json()["closes_at"]) == (
                "2026-01-05T16:00:00Z",
                "2026-01-05T18:00:00Z",
            )
            timeline = [e["type"] for e in api.get(f"/sessions/{sid}").json()["timeline"]]
            assert timeline[-2:] == ["session_snoozed", "session_woke"]
            sim.advance("2h")
            closed = api.get(f"/sessions/{sid}").json()["session"]
            assert (closed["status"], closed["closed_at"]) == ("closed", "2026-01-05T18:00:00Z")
            assert api.post(f"/sessions/{sid}/snooze", json={"until": "1h"}).status_code == 409

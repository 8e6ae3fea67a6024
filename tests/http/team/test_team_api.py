"""A team's inbox over HTTP (issue 23): the Simulator's app served by uvicorn on a free localhost port;
one call of each family (assignee, notes, canned replies) as a client sends it, and another
workspace's key answered 404."""

from __future__ import annotations

import httpx

from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import users as user_service
from wasession.services import workspaces as workspace_service
from wasession.testing import Simulator
from wasession.testing.harness import served

ANA = "15550001111"


def test_assignee_notes_and_canned_replies_on_a_real_port() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ctx = sim.runtime.ctx
        key = key_service.create_key(ctx, workspace_id=channel_service.default_workspace(ctx), name="crm").secret
        other = workspace_service.create_workspace(ctx, "b").id
        outsider_key = key_service.create_key(ctx, workspace_id=other, name="b").secret
        user_service.create_user(ctx, "maria", "long enough 1", role="agent")
        ch = sim.add_channel()
        sim.customer_message(ch, wa_id=ANA, name="Ana")
        sid = sim.session(ch, wa_id=ANA).id
        with served(sim) as url:
            api = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {key}"})
            outsider = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {outsider_key}"})

            put = api.put(f"/sessions/{sid}/assignee", json={"user": "maria"})
            assert put.status_code == 200, put.text
            assert (put.json()["user"], put.json()["assigned_by"]) == ("maria", "API key crm")
            assert [s["id"] for s in api.get("/sessions", params={"assignee": "maria"}).json()["items"]] == [sid]
            assert outsider.get(f"/sessions/{sid}/assignee").status_code == 404
            assert api.delete(f"/sessions/{sid}/assignee").status_code == 204
            assert api.get(f"/sessions/{sid}/assignee").json()["user"] is None

            note = api.post(f"/sessions/{sid}/notes", json={"text": "call back at 5"})
            assert note.status_code == 201 and note.json()["author"] == "API key crm"
            refused = api.post(f"/sessions/{sid}/notes", json={"text": ""})
            assert refused.status_code == 422 and refused.json()["error"]["field"] == "text"
            assert outsider.post(f"/sessions/{sid}/notes", json={"text": "x"}).status_code == 404
            assert [n["text"] for n in api.get(f"/sessions/{sid}/notes").json()] == ["call back at 5"]
            assert not [m for m in sim.fake.accepted() if m.body == "call back at 5"]

            made = api.post("/canned-replies", json={"name": "/thanks", "text": "Thanks {{contact_name}}"})
            assert made.status_code == 201, made.text
            rid = made.json()["id"]
            unknown = api.put(f"/canned-replies/{rid}", json={"name": "/thanks", "text": "Hi {{first_name}}"})
            assert unknown.status_code == 422 and "{{first_name}}" in unknown.json()["error"]["message"]
            assert outsider.get(f"/canned-replies/{rid}").status_code == 404
            assert api.delete(f"/canned-replies/{rid}").status_code == 204
            assert api.get("/canned-replies").json() == []

"""A team's inbox through the API (issue 23): a session's assignee, private notes and canned replies,
every one scoped to the key's workspace (another workspace's object answers 404)."""

from __future__ import annotations

import json

from tests.support.api import World, error
from wasession.services import canned_replies as canned_service
from wasession.services import users as user_service

ANA, BEN = "15550001111", "15550002222"
PASSWORD = "long enough 1"


def _team(world: World) -> None:
    ctx = world.sim.runtime.ctx
    user_service.create_user(ctx, "maria", PASSWORD, workspace="default", role="agent")
    user_service.create_user(ctx, "joao", PASSWORD, workspace="default", role="admin")
    user_service.create_user(ctx, "stranger", PASSWORD, workspace="other", role="agent")


def test_assign_take_over_and_unassign_with_events(world: World) -> None:
    _team(world)
    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    ana, ben = sim.session(ch, wa_id=ANA).id, sim.session(ch, wa_id=BEN).id
    assert world.a.get(f"/sessions/{ana}/assignee").json() == {"user": None, "assigned_at": None, "assigned_by": None}

    put = world.a.put(f"/sessions/{ana}/assignee", json={"user": "maria"})
    assert put.status_code == 200, put.text
    assert put.json()["user"] == "maria" and put.json()["assigned_by"] == "API key a"
    assert world.a.put(f"/sessions/{ana}/assignee", json={"user": "maria"}).status_code == 200  # no second event
    world.a.put(f"/sessions/{ana}/assignee", json={"user": "joao"})
    assert world.a.get(f"/sessions/{ana}").json()["session"]["assignee"] == "joao"

    names = lambda r: [s["contact_name"] for s in r.json()["items"]]  # noqa: E731
    assert names(world.a.get("/sessions", params={"assignee": "joao"})) == ["Ana"]
    assert names(world.a.get("/sessions", params={"assignee": "maria"})) == []
    assert names(world.a.get("/sessions", params={"unassigned": "true"})) == ["Ben"]
    assert names(world.a.get("/sessions", params={"unassigned": "false"})) == ["Ana"]
    listed = {s["contact_name"]: s["assignee"] for s in world.a.get("/sessions").json()["items"]}
    assert listed == {"Ana": "joao", "Ben": None}
    error(world.a.get("/sessions", params={"assignee": "stranger"}), 422, field="assignee")

    assert world.a.delete(f"/sessions/{ana}/assignee").status_code == 204
    assert world.a.delete(f"/sessions/{ana}/assignee").status_code == 204  # already nobody's: no event
    assert world.a.get(f"/sessions/{ana}/assignee").json()["user"] is None

    timeline = world.a.get(f"/sessions/{ana}").json()["timeline"]
    assigned = [e["data"] for e in timeline if e["type"] == "session_assigned"]
    assert assigned == [
        {"assignee": "maria", "previous": None, "by": "API key a"},
        {"assignee": "joao", "previous": "maria", "by": "API key a"},
        {"assignee": None, "previous": "joao", "by": "API key a"},
    ]
    assert world.a.get(f"/sessions/{ben}").json()["session"]["assignee"] is None


def test_assignee_errors_name_the_field_and_change_nothing(world: World) -> None:
    _team(world)
    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    body = error(world.a.put(f"/sessions/{sid}/assignee", json={"user": "stranger"}), 422, "unknown", "user")
    assert "'stranger'" in body["error"]["message"]
    error(world.a.put(f"/sessions/{sid}/assignee", json={"user": "nobody"}), 422, field="user")
    error(world.a.put(f"/sessions/{sid}/assignee", json={"user": ""}), 422, "required", "user")
    error(world.a.put(f"/sessions/{sid}/assignee", json={}), 422)
    assert world.a.get(f"/sessions/{sid}/assignee").json()["user"] is None
    # Another workspace: 404 for every verb, before the body is read.
    error(world.b.get(f"/sessions/{sid}/assignee"), 404)
    error(world.b.put(f"/sessions/{sid}/assignee", json={"user": "stranger"}), 404)
    error(world.b.put(f"/sessions/{sid}/assignee", json={"bad": 1}), 404)
    error(world.b.delete(f"/sessions/{sid}/assignee"), 404)
    error(world.a.get("/sessions/999999/assignee"), 404)


def test_notes_are_private_bounded_and_never_sent(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    sim.run_due()
    accepted = len(sim.fake.accepted())
    messages = sim.message_count()

    added = world.a.post(f"/sessions/{sid}/notes", json={"text": "  VIP: call before noon  "})
    assert added.status_code == 201, added.text
    note = added.json()
    assert note["author"] == "API key a" and note["text"] == "VIP: call before noon" and note["session_id"] == sid
    error(world.a.post(f"/sessions/{sid}/notes", json={"text": "   "}), 422, "required", "text")
    error(world.a.post(f"/sessions/{sid}/notes", json={"text": "x" * 4001}), 422, "too_long", "text")
    error(world.a.post(f"/sessions/{sid}/notes", json={}), 422)
    assert [n["text"] for n in world.a.get(f"/sessions/{sid}/notes").json()] == ["VIP: call before noon"]

    sim.advance("1m")
    sim.run_due()
    assert len(sim.fake.accepted()) == accepted and sim.message_count() == messages  # nothing went to WhatsApp
    error(world.b.get(f"/sessions/{sid}/notes"), 404)
    error(world.b.post(f"/sessions/{sid}/notes", json={"text": "hi"}), 404)
    error(world.b.post(f"/sessions/{sid}/notes", json={"text": ""}), 404)


def test_canned_replies_crud_merge_fields_and_workspaces(world: World) -> None:
    created = world.a.post(
        "/canned-replies", json={"name": "/thanks", "text": "Thanks {{contact_name}}! {{agent_name}} here."}
    )
    assert created.status_code == 201, created.text
    reply = created.json()
    assert reply["name"] == "/thanks"
    assert world.a.post("/canned-replies", json={"name": "hours", "text": "9 to 5"}).json()["name"] == "/hours"
    assert [r["name"] for r in world.a.get("/canned-replies").json()] == ["/hours", "/thanks"]
    assert world.b.get("/canned-replies").json() == []

    error(world.a.post("/canned-replies", json={"name": "/thanks", "text": "again"}), 409, "duplicate", "name")
    # The other workspace may use the same name: names are unique per workspace.
    assert world.b.post("/canned-replies", json={"name": "/thanks", "text": "b"}).status_code == 201
    body = error(world.a.post("/canned-replies", json={"name": "/x", "text": "Hi {{contact_nmae}}"}), 422, None, "text")
    assert "{{contact_nmae}}" in body["error"]["message"]
    error(world.a.post("/canned-replies", json={"name": "/x", "text": ""}), 422, "required", "text")
    error(world.a.post("/canned-replies", json={"name": "no spaces", "text": "t"}), 422, "invalid", "name")
    error(world.a.post("/canned-replies", json={"name": "", "text": "t"}), 422, "required", "name")
    assert len(world.a.get("/canned-replies").json()) == 2  # nothing was added by the refusals

    rid = reply["id"]
    put = world.a.put(
        f"/canned-replies/{rid}", json={"name": "/thanks", "text": "Thank you, {{contact_name}} ({{wa_id}})"}
    )
    assert put.status_code == 200 and put.json()["text"].startswith("Thank you")
    error(world.a.put(f"/canned-replies/{rid}", json={"name": "/hours", "text": "t"}), 409, field="name")
    assert world.a.get(f"/canned-replies/{rid}").json()["text"].startswith("Thank you")

    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    filled = canned_service.fill(sim.runtime.ctx, rid, sid, workspace_id=ch.workspace_id, agent_name="maria")
    assert filled == f"Thank you, Ana ({ANA})"

    for call in (
        world.b.get(f"/canned-replies/{rid}"),
        world.b.put(f"/canned-replies/{rid}", json={"name": "/y", "text": "t"}),
        world.b.delete(f"/canned-replies/{rid}"),
    ):
        error(call, 404)
    assert world.a.delete(f"/canned-replies/{rid}").status_code == 204
    error(world.a.get(f"/canned-replies/{rid}"), 404)
    assert json.loads(world.b.get("/canned-replies").text)[0]["text"] == "b"


def test_session_assigned_reaches_the_event_webhooks(world: World) -> None:
    _team(world)
    hook = world.a.post("/event-webhooks", json={"url": "http://crm.test/hook", "secret": "s" * 20})
    assert hook.status_code == 201, hook.text
    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    world.a.put(f"/sessions/{sid}/assignee", json={"user": "maria"})
    world.a.post(f"/sessions/{sid}/notes", json={"text": "private"})
    sim.run_due()
    sent = [json.loads(r.body) for r in world.receiver.received]
    assigned = [p for p in sent if p["type"] == "session_assigned"]
    assert len(assigned) == 1 and assigned[0]["session_id"] == sid
    assert assigned[0]["data"] == {"assignee": "maria", "previous": None, "by": "API key a"}
    assert not any("private" in r.body.decode() for r in world.receiver.received)  # a note is no event

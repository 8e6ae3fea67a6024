"""Sessions: filters and cursor pages, detail with transcript and timeline, close, agent messages (R13)."""

from __future__ import annotations

from tests.support.api import World, error

ANA, BEN, CAROL = "15550001111", "15550002222", "15550003333"


def test_list_filters_and_cursor_pages(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="2h", closure_check="12h", closure_check_anchor="03:00")
    other = sim.add_channel(name="Other", session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    sim.advance("30m")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    sim.advance("30m")
    sim.customer_message(other, wa_id=CAROL, name="Carol")
    sim.advance("70m")  # Ana is past her 2 h timeout, waiting for the 03:00 tick; Ben is not yet
    everything = world.a.get("/sessions").json()
    assert [s["contact_name"] for s in everything["items"]] == ["Carol", "Ben", "Ana Silva"]
    ana = everything["items"][2]
    assert ana["eligible"] and ana["window_open"] and ana["closes_at"] == "2026-01-06T03:00:00Z"
    assert ana["contact_wa_id"] == ANA and ana["channel_name"] == "Sim channel" and ana["awaiting"] == "agent"
    names = lambda r: [s["contact_name"] for s in r.json()["items"]]  # noqa: E731
    assert names(world.a.get("/sessions", params={"eligible": "true"})) == ["Ana Silva"]
    assert names(world.a.get("/sessions", params={"eligible": "false"})) == ["Carol", "Ben"]
    assert names(world.a.get("/sessions", params={"channel_id": other.id})) == ["Carol"]
    assert names(world.a.get("/sessions", params={"contact_id": ana["contact_id"]})) == ["Ana Silva"]
    assert names(world.a.get("/sessions", params={"window_open": "false"})) == []
    assert names(world.a.get("/sessions", params={"status": "closed"})) == []
    assert names(world.a.get("/sessions", params={"awaiting": "customer"})) == []
    sim.advance("22h40m")  # 15:50 next day: the 03:00 tick closed Ana and Ben; Carol's window closes at 16:00
    assert names(world.a.get("/sessions", params={"status": "closed"})) == ["Ben", "Ana Silva"]
    assert names(world.a.get("/sessions", params={"closing_within": "1h"})) == ["Carol"]
    first = world.a.get("/sessions", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = world.a.get("/sessions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["contact_name"] for s in second["items"]] == ["Ana Silva"] and second["next_cursor"] is None
    assert world.b.get("/sessions").json() == {
        "items": [],
        "next_cursor": None,
        "prev_cursor": None,
        "total": 0,
        "start": 0,
    }


def test_list_errors(world: World) -> None:
    error(world.a.get("/sessions", params={"status": "open"}), 422, field="status")
    error(world.a.get("/sessions", params={"awaiting": "bot"}), 422, field="awaiting")
    error(world.a.get("/sessions", params={"limit": 0}), 422, "out_of_range", "limit")
    error(world.a.get("/sessions", params={"cursor": "garbage"}), 422, "invalid_cursor", "cursor")
    error(world.a.get("/sessions", params={"closing_within": "soon"}), 422, field="closing_within")
    error(world.a.get("/sessions", params={"eligible": "maybe"}), 422, field="eligible")


def test_detail_messages_close_and_the_window(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva", text="hello there")
    sid = sim.session(ch, wa_id=ANA).id
    sent = world.a.post(f"/sessions/{sid}/messages", json={"body": "Hi Ana, how can I help?"})
    assert sent.status_code == 202 and sent.json()["status"] == "pending"
    sim.advance("10s")
    detail = world.a.get(f"/sessions/{sid}").json()
    assert [(m["direction"], m["body"]) for m in detail["transcript"]] == [
        ("in", "hello there"),
        ("out", "Hi Ana, how can I help?"),
    ]
    assert detail["transcript"][1]["status"] in ("sent", "delivered", "read", "accepted")
    types = [e["type"] for e in detail["timeline"]]
    assert types[:3] == ["session_opened", "customer_message", "agent_message"]
    assert detail["session"]["awaiting"] == "customer"
    error(world.a.post(f"/sessions/{sid}/messages", json={"body": "  "}), 422, "required", "body")
    sim.advance("24h")
    closed = error(world.a.post(f"/sessions/{sid}/messages", json={"body": "too late"}), 409, "window_closed")
    assert closed["error"]["closed_at"] == "2026-01-06T15:00:00+00:00"
    tpl = world.a.post(
        f"/sessions/{sid}/templates", json={"name": "follow_up", "language": "en_US", "parameters": ["Ana"]}
    )
    assert tpl.status_code == 202
    error(world.a.post(f"/sessions/{sid}/templates", json={"name": "Bad Name!", "language": "en"}), 422, field="name")
    done = world.a.post(f"/sessions/{sid}/close")
    assert done.status_code == 200 and done.json()["status"] == "closed" and done.json()["close_reason"] == "agent"
    error(world.a.post(f"/sessions/{sid}/close"), 409, "already_closed")


def test_another_workspaces_session_answers_404_everywhere(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    b = world.b
    for response in (
        b.get(f"/sessions/{sid}"),
        b.post(f"/sessions/{sid}/close"),
        b.post(f"/sessions/{sid}/messages", json={"body": "hi"}),
        b.post(f"/sessions/{sid}/templates", json={"name": "hello_world", "language": "en_US"}),
    ):
        error(response, 404, "not_found")
    assert sim.session(ch, wa_id=ANA).status == "active"
    assert len(sim.transcript(sid)) == 1
    error(world.a.get("/sessions/999999"), 404)

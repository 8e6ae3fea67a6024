"""Templates from Meta: the channel's approved templates are fetched (every page) from its WhatsApp
Business Account, cached, checked on send, and the transcript shows the rendered text."""

from __future__ import annotations

from tests.support.api import World, error

ANA = "15550001111"
WABA = "100000000000001"


def _closed_window_session(world: World) -> tuple[int, int]:
    sim = world.sim
    ch = sim.add_channel(session_timeout="72h")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva", text="hello")
    sim.advance("25h")
    return ch.id, sim.session(ch, wa_id=ANA).id


def test_refresh_caches_the_approved_templates_from_every_page(world: World) -> None:
    cid, _ = _closed_window_session(world)
    assert world.a.get(f"/channels/{cid}/templates").json()["templates"] == []
    error(world.a.post(f"/channels/{cid}/templates/refresh", json={}), 422, "required", "waba_id")
    error(world.a.post(f"/channels/{cid}/templates/refresh", json={"waba_id": "12ab"}), 422, field="waba_id")
    found = world.a.post(f"/channels/{cid}/templates/refresh", json={"waba_id": WABA})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["waba_id"] == WABA and body["error"] is None and body["fetched_at"]
    # Four in the fake, two per page; the rejected one is never offered.
    assert [(t["name"], t["language"]) for t in body["templates"]] == [
        ("follow_up", "en_US"),
        ("order_update", "en_US"),
        ("order_update", "pt_BR"),
    ]
    assert body["templates"][2]["parameters"] == ["1", "2"]
    assert world.a.get(f"/channels/{cid}/templates").json() == body
    error(world.b.get(f"/channels/{cid}/templates"), 404)
    error(world.b.post(f"/channels/{cid}/templates/refresh", json={"waba_id": WABA}), 404)


def test_a_cached_template_is_checked_and_rendered_into_the_transcript(world: World) -> None:
    cid, sid = _closed_window_session(world)
    world.a.post(f"/channels/{cid}/templates/refresh", json={"waba_id": WABA})
    refused = error(
        world.a.post(
            f"/sessions/{sid}/templates", json={"name": "order_update", "language": "pt_BR", "parameters": ["Ana"]}
        ),
        422,
        "required",
        "parameters.2",
    )
    assert "{{2}}" in refused["error"]["message"]
    sent = world.a.post(
        f"/sessions/{sid}/templates", json={"name": "order_update", "language": "pt_BR", "parameters": ["Ana", "#42"]}
    )
    assert sent.status_code == 202
    world.sim.advance("5s")
    out = [m for m in world.a.get(f"/sessions/{sid}").json()["transcript"] if m["direction"] == "out"]
    assert [m["body"] for m in out] == ["Olá Ana, o seu pedido #42 saiu para entrega."]
    assert out[0]["status"] in ("accepted", "sent", "delivered", "read")
    accepted = world.sim.fake.accepted()[-1]
    assert accepted.payload["template"]["name"] == "order_update"


def test_a_refresh_replaces_the_cache_and_a_refused_fetch_is_said_in_words(world: World) -> None:
    cid, _ = _closed_window_session(world)
    world.a.post(f"/channels/{cid}/templates/refresh", json={"waba_id": WABA})
    world.sim.fake.set_templates([])  # every template deleted in WhatsApp Manager
    assert world.a.post(f"/channels/{cid}/templates/refresh", json={}).json()["templates"] == []
    world.sim.fake.fail_templates(190)
    refused = error(world.a.post(f"/channels/{cid}/templates/refresh", json={}), 502, "graph_unavailable")
    assert "access token" in refused["error"]["message"]
    assert "access token" in world.a.get(f"/channels/{cid}/templates").json()["error"]

"""The dry run of a policy save: POST /channels/{id}/policy/preview says what the save would move and
writes nothing; the save then records `session_replanned` on each session it moved (R11)."""

from __future__ import annotations

from tests.support.api import World, error

ANA, BEN, CAROL = "15550001111", "15550002222", "15550003333"


def test_preview_counts_what_moves_and_the_save_records_it_on_each_session(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="6h", reminder_enabled=True, reminder_after_hours=4)
    for wa_id in (ANA, BEN):
        sim.customer_message(ch, wa_id=wa_id, name=wa_id)
    sim.advance("3h")
    sim.customer_message(ch, wa_id=CAROL, name="Carol")  # Carol wrote just now
    changes = {"session_timeout": "2h", "reminder_after_hours": 1}
    preview = world.a.post(f"/channels/{ch.id}/policy/preview", json=changes)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["active_sessions"] == 3 and body["close_now"] == 2  # Ana and Ben are past 2 h of silence
    assert body["closures_moved"] == 1 and body["summary"][0] == "2 open chats will close now"
    assert {m["session_id"] for m in body["moves"]} == {sim.session(ch, wa_id=w).id for w in (ANA, BEN, CAROL)}
    assert world.a.get(f"/channels/{ch.id}/policy").json()["policy"]["session_timeout"] == "PT6H"  # not saved
    assert all(
        e["type"] != "session_replanned"
        for e in world.a.get(f"/sessions/{sim.session(ch, wa_id=ANA).id}").json()["timeline"]
    )

    assert world.a.put(f"/channels/{ch.id}/policy", json=changes).status_code == 200
    carol = sim.session(ch, wa_id=CAROL).id
    replanned = [e for e in world.a.get(f"/sessions/{carol}").json()["timeline"] if e["type"] == "session_replanned"]
    assert len(replanned) == 1 and replanned[0]["data"]["closes_now"] is False
    assert replanned[0]["data"]["closes_at"] == "2026-01-05T20:00:00+00:00"


def test_preview_names_every_bad_setting_and_is_scoped(world: World) -> None:
    ch = world.sim.add_channel()
    body = error(
        world.a.post(f"/channels/{ch.id}/policy/preview", json={"reminder_after_hours": 99, "timezone": "x"}), 422
    )
    assert sorted(e["field"] for e in body["error"]["errors"]) == ["reminder_after_hours", "timezone"]
    error(world.b.post(f"/channels/{ch.id}/policy/preview", json={}), 404, "not_found")
    assert world.a.post(f"/channels/{ch.id}/policy/preview", json={}).json()["summary"] == []

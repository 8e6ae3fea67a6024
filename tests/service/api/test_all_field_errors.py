"""Every bad field at once: PUT /channels/{id}/policy answers one 422 listing each (issue 15, item 9)."""

from __future__ import annotations

from tests.support.api import World, error


def test_one_422_lists_every_bad_setting_and_saves_nothing(world: World) -> None:
    ch = world.sim.add_channel(reminder_after_hours=20)
    body = error(
        world.a.put(
            f"/channels/{ch.id}/policy",
            json={"reminder_after_hours": 24, "session_timeout": "0m", "timezone": "Nowhere/Land"},
        ),
        422,
    )
    every = body["error"]["errors"]
    assert sorted(e["field"] for e in every) == ["reminder_after_hours", "session_timeout", "timezone"]
    assert body["error"]["field"] == every[0]["field"]  # the first, for clients that read one
    assert all(e["message"] and e["code"] for e in every)
    assert all(e["message"] in body["error"]["message"] for e in every)
    assert world.a.get(f"/channels/{ch.id}/policy").json()["policy"]["reminder_after_hours"] == 20


def test_a_single_bad_setting_is_a_list_of_one(world: World) -> None:
    ch = world.sim.add_channel()
    body = error(world.a.put(f"/channels/{ch.id}/policy", json={"reminder_after_hours": 0}), 422)
    assert [e["field"] for e in body["error"]["errors"]] == ["reminder_after_hours"]
    assert body["error"]["message"] == body["error"]["errors"][0]["message"]

"""The session list as a work queue over HTTP: search, sorts, cursor pages both ways with counts,
and the last-message preview."""

from __future__ import annotations

from typing import Any

from tests.support.api import World, error


def _names(answer: Any) -> list[str]:
    return [s["contact_name"] for s in answer.json()["items"]]


def _seed(world: World) -> None:
    """Five chats a minute apart on a 24 h window; Carla's window is refreshed last."""
    sim = world.sim
    ch = sim.add_channel(session_timeout="48h")
    for i, name in enumerate(["Ana Silva", "Bruno Costa", "Carla Mendes", "Daniel Okafor", "Elena Ruiz"]):
        sim.customer_message(ch, wa_id=f"3519100000{i}", name=name, text=f"hello from {name.split()[0]}")
        sim.advance("1m")
    sim.customer_message(ch, wa_id="35191000002", name="Carla Mendes", text="still there?  " + "x" * 100)


def test_search_matches_name_or_phone_in_any_case(world: World) -> None:
    _seed(world)
    assert _names(world.a.get("/sessions", params={"search": "costa"})) == ["Bruno Costa"]
    assert _names(world.a.get("/sessions", params={"search": "35191000003"})) == ["Daniel Okafor"]
    assert _names(world.a.get("/sessions", params={"search": "100%"})) == []  # % is a character, not a wildcard
    assert world.a.get("/sessions", params={"search": "a"}).json()["total"] == 5
    assert world.b.get("/sessions", params={"search": "ana"}).json()["items"] == []
    error(world.a.get("/sessions", params={"search": "x" * 101}), 422, field="search")


def test_window_sort_puts_the_soonest_closing_first_and_pages_both_ways(world: World) -> None:
    _seed(world)
    everything = world.a.get("/sessions", params={"sort": "window"})
    assert _names(everything) == ["Ana Silva", "Bruno Costa", "Daniel Okafor", "Elena Ruiz", "Carla Mendes"]
    first = world.a.get("/sessions", params={"sort": "window", "limit": 2}).json()
    assert (first["total"], first["start"], first["prev_cursor"]) == (5, 1, None)
    second = world.a.get("/sessions", params={"sort": "window", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["contact_name"] for s in second["items"]] == ["Daniel Okafor", "Elena Ruiz"]
    assert (second["total"], second["start"]) == (5, 3)
    third = world.a.get("/sessions", params={"sort": "window", "limit": 2, "cursor": second["next_cursor"]}).json()
    assert [s["contact_name"] for s in third["items"]] == ["Carla Mendes"] and third["next_cursor"] is None
    back = world.a.get("/sessions", params={"sort": "window", "limit": 2, "cursor": third["prev_cursor"]}).json()
    assert back["items"] == second["items"] and back["start"] == 3
    again = world.a.get("/sessions", params={"sort": "window", "limit": 2, "cursor": back["prev_cursor"]}).json()
    assert again["items"] == first["items"] and again["prev_cursor"] is None and again["next_cursor"]


def test_windows_already_closed_come_after_the_open_ones(world: World) -> None:
    _seed(world)
    world.sim.advance("23h57m")  # Ana's and Bruno's windows closed; the others close within minutes
    assert _names(world.a.get("/sessions", params={"sort": "window"})) == [
        "Daniel Okafor",
        "Elena Ruiz",
        "Carla Mendes",
        "Bruno Costa",
        "Ana Silva",
    ]


def test_other_sorts_preview_and_cursor_checks(world: World) -> None:
    _seed(world)
    assert _names(world.a.get("/sessions", params={"sort": "last_message"}))[0] == "Carla Mendes"
    assert _names(world.a.get("/sessions", params={"sort": "closure"}))[0] == "Ana Silva"
    carla = world.a.get("/sessions", params={"search": "carla"}).json()["items"][0]
    assert carla["last_message_preview"] == "still there? " + "x" * 66 + "…"
    error(world.a.get("/sessions", params={"sort": "name"}), 422, field="sort")
    cursor = world.a.get("/sessions", params={"limit": 1}).json()["next_cursor"]
    error(world.a.get("/sessions", params={"sort": "window", "cursor": cursor}), 422, "invalid_cursor", "cursor")

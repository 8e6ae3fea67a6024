"""Contacts: read, edit the merge-field values, CSV import with a per-row error report."""

from __future__ import annotations

from tests.support.api import World, error

ANA = "15550001111"


def test_read_update_and_the_reminder_uses_the_new_name(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, reminder_template="Hi {contact_firstname}!")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva")
    listed = world.a.get("/contacts").json()
    assert [c["wa_id"] for c in listed["items"]] == [ANA] and listed["next_cursor"] is None
    cid = listed["items"][0]["id"]
    assert world.a.get(f"/contacts/{cid}").json()["display_name"] == "Ana Silva"
    patched = world.a.patch(f"/contacts/{cid}", json={"first_name": "Anita", "email": "ana@example.com"})
    assert patched.status_code == 200
    assert patched.json()["first_name"] == "Anita" and patched.json()["email"] == "ana@example.com"
    assert patched.json()["display_name"] == "Anita Silva"
    sim.advance("1h")
    assert [m.body for m in sim.outbox(ch)] == ["Hi Anita!"]
    reset = world.a.patch(f"/contacts/{cid}", json={"first_name": None})
    assert reset.json()["first_name"] is None and reset.json()["display_name"] == "Ana Silva"


def test_contact_errors_and_other_workspaces(world: World) -> None:
    sim = world.sim
    sim.customer_message(sim.add_channel(), wa_id=ANA, name="Ana")
    cid = world.a.get("/contacts").json()["items"][0]["id"]
    error(world.a.patch(f"/contacts/{cid}", json={"email": "not-an-email"}), 422, "invalid", "email")
    error(world.a.patch(f"/contacts/{cid}", json={"first_name": "x" * 129}), 422, "too_long", "first_name")
    error(world.a.patch(f"/contacts/{cid}", json={"phone": "1"}), 422, field="phone")
    error(world.a.get("/contacts", params={"cursor": "abc"}), 422, field="cursor")
    error(world.b.get(f"/contacts/{cid}"), 404, "not_found")
    error(world.b.patch(f"/contacts/{cid}", json={"first_name": "Mallory"}), 404, "not_found")
    assert world.b.get("/contacts").json()["items"] == []
    assert world.a.get(f"/contacts/{cid}").json()["first_name"] is None


def test_csv_import_applies_good_rows_and_reports_each_bad_one(world: World) -> None:
    sim = world.sim
    sim.customer_message(sim.add_channel(), wa_id=ANA, name="Ana")
    csv = (
        "wa_id,first_name,last_name,email\n"
        f"{ANA},Ana,Silva,ana@example.com\n"
        "15550002222,Ben,,\n"
        "12ab,Bad,Id,\n"
        "15550003333,Carol,,carol-at-example\n"
        "15550004444,Dan,Lee,dan@example.com,extra\n"
    )
    report = world.a.post("/contacts/import", content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["created"], body["updated"]) == (1, 1)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(4, "wa_id"), (5, "email"), (6, None)]
    contacts = {c["wa_id"]: c for c in world.a.get("/contacts").json()["items"]}
    assert set(contacts) == {ANA, "15550002222"}
    assert contacts[ANA]["email"] == "ana@example.com" and contacts["15550002222"]["first_name"] == "Ben"
    assert world.b.get("/contacts").json()["items"] == []
    missing = world.a.post("/contacts/import", content=b"name\nAna\n", headers={"Content-Type": "text/csv"})
    error(missing, 422, "missing_column", "file")
    error(
        world.a.post("/contacts/import", content=b"\xff\xfe", headers={"Content-Type": "text/csv"}), 422, field="file"
    )


def test_contact_pages(world: World) -> None:
    rows = "".join(f"1555000{i:04d},N{i},,\n" for i in range(5))
    world.a.post("/contacts/import", content=("wa_id,first_name,last_name,email\n" + rows).encode())
    first = world.a.get("/contacts", params={"limit": 3}).json()
    second = world.a.get("/contacts", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [c["first_name"] for c in first["items"] + second["items"]] == [f"N{i}" for i in range(5)]
    assert second["next_cursor"] is None

"""Inbound fidelity: 1,000-update batches, 3 MB bodies, unroutable numbers, groups, non-message
fields, and the raw webhook log (retention, re-processing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from tests.conftest import load_fixture
from tests.support.fidelity import ANA
from wasession import ingest
from wasession.cli import main
from wasession.lifecycle.batch_sessions import BatchSessions
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.schema import contacts, events, messages, sessions, webhook_log
from wasession.testing import Simulator
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign


def _counts(sim: Simulator) -> dict[str, int]:
    with sim.runtime.db.read() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in (contacts, sessions, messages, events)
        }


def _batch_body(pnid: str, sim: Simulator, n: int, text: str = "hi") -> dict[str, Any]:
    body = text_message_body(phone_number_id=pnid, wa_id="1", name="x", text=text, timestamp=sim.now)
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"], value["messages"] = [], []
    for i in range(n):
        wa_id = f"4477{i:08d}"
        one = text_message_body(
            phone_number_id=pnid, wa_id=wa_id, name=f"C {i}", text=text, timestamp=sim.now, wamid=new_wamid(wa_id)
        )["entry"][0]["changes"][0]["value"]
        value["contacts"] += one["contacts"]
        value["messages"] += one["messages"]
    return body


def test_a_batch_of_1000_messages_opens_1000_sessions_and_a_replay_changes_nothing(sim: Simulator) -> None:
    ch = sim.add_channel()
    body = _batch_body(ch.phone_number_id, sim, 1000)
    response = sim.post_webhook(body)
    assert response.status_code == 200, response.text
    assert len(sim.active_sessions(ch)) == 1000
    before = _counts(sim)
    assert before["contacts"] == 1000 and before["messages"] == 1000
    replay = sim.post_webhook(body)  # Meta retries the same body
    assert replay.status_code == 200 and replay.json()["id"] == response.json()["id"]
    assert _counts(sim) == before
    same_messages = body["entry"][0]["changes"][0]["value"]
    same_messages["contacts"] = list(reversed(same_messages["contacts"]))  # other bytes, the same wamids
    assert sim.post_webhook(body).status_code == 200
    assert _counts(sim) == before
    with sim.runtime.db.read() as conn:
        outcomes = conn.execute(select(webhook_log.c.outcome).order_by(webhook_log.c.id)).scalars().all()
    assert len(outcomes) == 2  # the replay stored nothing new
    assert (outcomes[0]["messages"], outcomes[0]["opened"], outcomes[0]["duplicates"]) == (1000, 1000, 0)
    assert (outcomes[1]["messages"], outcomes[1]["duplicates"]) == (0, 1000)


def test_a_body_just_under_3_mb_is_accepted_and_stored_whole(sim: Simulator) -> None:
    ch = sim.add_channel()
    body = text_message_body(
        phone_number_id=ch.phone_number_id, wa_id=ANA, name="Ana", text="x" * 2_900_000, timestamp=sim.now
    )
    raw = json.dumps(body).encode()
    assert 2_900_000 < len(raw) <= 3 * 1024 * 1024
    assert sim.post_webhook(raw).status_code == 200
    assert sim.session(ch, wa_id=ANA).status == "active"
    with sim.runtime.db.read() as conn:
        stored = conn.execute(select(webhook_log.c.body)).scalar_one()
    assert bytes(stored) == raw


def test_a_body_over_3_mb_is_refused_and_stores_nothing(sim: Simulator) -> None:
    ch = sim.add_channel()
    body = text_message_body(
        phone_number_id=ch.phone_number_id, wa_id=ANA, name="Ana", text="x" * (3 * 1024 * 1024), timestamp=sim.now
    )
    assert sim.post_webhook(body).status_code == 413
    assert _counts(sim)["sessions"] == 0
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_log)).scalar() == 0


def test_unknown_phone_number_id_is_2xx_recorded_as_unroutable_and_listed_for_admins(sim: Simulator) -> None:
    ch = sim.add_channel()
    stray = text_message_body(phone_number_id="999000111", wa_id=ANA, name="Ana", text="hi", timestamp=sim.now)
    # Signed by a secret nobody here holds: refused, nothing stored.
    forged = json.dumps(stray).encode()
    assert (
        sim.post_webhook(forged, sign=False, headers={SIGNATURE_HEADER: sign("nobody-holds-it", forged)}).status_code
        == 403
    )
    assert ingest.logged_bodies(sim.runtime.ctx) == []
    # Signed by an app secret a channel holds (one Meta app): kept for the admin (issue 26).
    assert sim.post_webhook(stray).status_code == 200
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # a routable one, not listed
    assert _counts(sim)["sessions"] == 1
    rows = ingest.logged_bodies(sim.runtime.ctx, unroutable_only=True)
    assert [r.unroutable_ids for r in rows] == [["999000111"]]
    env = {
        "WASESSION_DATABASE_URL": sim.runtime.settings.database_url,
        "WASESSION_SECRET_KEY": sim.runtime.settings.secret_key or "",
    }
    result = CliRunner().invoke(main, ["webhooks", "unroutable", "--json"], env=env)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(i["id"], i["phone_number_ids"]) for i in listed] == [(rows[0].id, ["999000111"])]
    text = CliRunner().invoke(main, ["webhooks", "unroutable"], env=env)
    assert "999000111" in text.output


def test_group_messages_do_not_touch_sessions(sim: Simulator) -> None:
    ch = sim.add_channel()
    body = text_message_body(phone_number_id=ch.phone_number_id, wa_id=ANA, name="Ana", text="hi", timestamp=sim.now)
    body["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"] = "120363000000000001@g.us"
    assert sim.post_webhook(body).status_code == 200
    assert _counts(sim)["sessions"] == 0 and _counts(sim)["messages"] == 0
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(webhook_log.c.outcome)).scalar_one()["groups"] == 1
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # the same person 1:1 still opens a session
    assert sim.session(ch, wa_id=ANA).status == "active"


@pytest.mark.parametrize(
    ("name", "case", "kind"),
    [
        ("account_update.json", None, "account_update"),
        ("template_status_update.json", None, "message_template_status_update"),
        ("template_quality_update.json", None, "message_template_quality_update"),
        ("template_category_update.json", None, "template_category_update"),
        ("user_marketing_preferences.json", None, "user_preferences"),
    ],
)
def test_non_message_fields_are_recorded_as_channel_events(
    sim: Simulator, name: str, case: str | None, kind: str
) -> None:
    bodies = load_fixture(name)
    body = bodies[case] if case else next(iter(bodies.values()))
    value = body["entry"][0]["changes"][0]["value"]
    pnid = value.get("metadata", {}).get("phone_number_id")
    if pnid is None:  # WABA-level fields carry no number; route them through a metadata we add
        value["metadata"] = {"display_phone_number": "1", "phone_number_id": "106540352242922"}
    sim.add_channel(phone_number_id=pnid or "106540352242922")
    assert sim.post_webhook(body).status_code == 200
    with sim.runtime.db.read() as conn:
        recorded = conn.execute(select(events.c.type, events.c.session_id, events.c.data)).all()
    webhook_events = [r for r in recorded if r.type.startswith("webhook_")]
    assert [(r.type, r.session_id) for r in webhook_events] == [(f"webhook_{kind}", None)]
    assert webhook_events[0].data["field"] == body["entry"][0]["changes"][0]["field"]


def test_reprocessing_everything_changes_nothing(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.post_webhook(_batch_body(ch.phone_number_id, sim, 20))
    sim.advance("1h")
    sim.advance("1m")  # reminders went out; their statuses came back as webhooks too
    before = _counts(sim)
    states = [(s.id, s.reminder_state, s.last_customer_message_at) for s in sim.active_sessions(ch)]
    results = list(ingest.reprocess_logged(sim.runtime.ingestor))
    assert len(results) >= 20 and all(r.error is None for r in results)
    assert _counts(sim) == before
    assert [(s.id, s.reminder_state, s.last_customer_message_at) for s in sim.active_sessions(ch)] == states


def test_a_body_whose_processing_failed_is_applied_on_reprocess_after_the_fix(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = sim.add_channel()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(BatchSessions, "open", broken)  # opening a session fails
    assert sim.customer_message(ch, wa_id=ANA, name="Ana").status_code == 200  # stored, not applied
    assert _counts(sim)["sessions"] == 0
    errored = ingest.logged_bodies(sim.runtime.ctx, errors_only=True)
    assert len(errored) == 1 and errored[0].outcome is not None
    assert errored[0].outcome.error == "RuntimeError: a bug"
    monkeypatch.undo()  # the fix is deployed
    env = {
        "WASESSION_DATABASE_URL": sim.runtime.settings.database_url,
        "WASESSION_SECRET_KEY": sim.runtime.settings.secret_key or "",
    }
    result = CliRunner().invoke(main, ["webhooks", "reprocess", "--errors-only"], env=env)
    assert result.exit_code == 0, result.output
    assert "reprocessed 1 webhook bodies, 0 with errors" in result.output
    assert sim.session(ch, wa_id=ANA).status == "active"
    assert ingest.logged_bodies(sim.runtime.ctx, errors_only=True) == []
    again = CliRunner().invoke(main, ["webhooks", "reprocess", "--id", str(errored[0].id)], env=env)
    assert again.exit_code == 0 and _counts(sim)["sessions"] == 1


def test_reprocess_since_and_bad_since(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    sim.customer_message(ch, wa_id="15550009999", name="Zé")
    later = list(ingest.reprocess_logged(sim.runtime.ingestor, since=sim.now - timedelta(minutes=1)))
    assert len(later) == 1 and later[0].duplicates == 1
    env = {
        "WASESSION_DATABASE_URL": sim.runtime.settings.database_url,
        "WASESSION_SECRET_KEY": sim.runtime.settings.secret_key or "",
    }
    bad = CliRunner().invoke(main, ["webhooks", "reprocess", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2 and "--since" in bad.output


def test_retention_prunes_old_bodies_only(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("20d")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("11d")
    assert ingest.prune_webhook_log(sim.runtime.ctx, 30) == 1
    assert ingest.prune_webhook_log(sim.runtime.ctx, 30) == 0
    assert sim.runtime.prune_webhooks() == 0  # the engine's periodic step, default 30 days
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_log)).scalar() == 1
    with sim.runtime.db.log.write() as conn:  # the CLI runs on the real clock: 31 days before today
        conn.execute(update(webhook_log).values(received_at=datetime.now(UTC) - timedelta(days=31)))
    env = {
        "WASESSION_DATABASE_URL": sim.runtime.settings.database_url,
        "WASESSION_SECRET_KEY": sim.runtime.settings.secret_key or "",
        "WASESSION_WEBHOOK_RETENTION_DAYS": "40",
    }
    kept = CliRunner().invoke(main, ["webhooks", "prune"], env=env)
    assert kept.exit_code == 0 and "removed 0" in kept.output
    gone = CliRunner().invoke(main, ["webhooks", "prune", "--days", "30"], env=env)
    assert gone.exit_code == 0 and "removed 1" in gone.output


def test_a_user_whose_business_scoped_id_changed_keeps_contact_and_session(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="7d")
    sim.customer_message(ch, user_id="US.111", name="Ana", at="2026-01-05T14:00:00Z")
    before = sim.session(ch, user_id="US.111")
    body = text_message_body(
        phone_number_id=ch.phone_number_id, wa_id=None, user_id="US.111", name="Ana", text="x", timestamp=sim.now
    )
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update(
        type="system",
        system={"body": "User A changed their user id", "type": "user_changed_user_id", "user_id": "US.222"},
    )
    assert sim.post_webhook(body).status_code == 200
    after = sim.session(ch, user_id="US.222")
    assert after.id == before.id and after.status == "active"
    # a system message is not the customer writing
    assert after.last_customer_message_at == before.last_customer_message_at
    with pytest.raises(LookupError):
        sim.session(ch, user_id="US.111")
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar() == 1


def test_a_status_naming_a_customers_own_message_changes_nothing() -> None:
    """R15 is about what we sent: a status webhook carrying an inbound message's wamid (Meta never sends
    one; a confused relay might) neither changes that message nor records a delivery event."""
    from wasession.sandbox.bodies import status_body

    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ch = sim.add_channel()
        sim.customer_message(ch, wa_id="15550001111", text="hi", wamid="wamid.INBOUND1")
        before = sim.message_by_wamid(ch, "wamid.INBOUND1")
        body = status_body(
            phone_number_id=ch.phone_number_id,
            wamid="wamid.INBOUND1",
            status="read",
            timestamp=sim.now,
            recipient_id="15550001111",
        )
        response = sim.post_webhook(body)
        assert response.status_code == 200
        (logged,) = ingest.logged_bodies(sim.runtime.ctx, log_id=response.json()["id"])
        assert logged.outcome is not None and logged.outcome.error is None, logged.outcome  # applied, not failed
        after = sim.message_by_wamid(ch, "wamid.INBOUND1")
        assert before is not None and after == before
        types = [e.type for e in sim.timeline(sim.session(ch, wa_id="15550001111"))]
        assert not [t for t in types if t.startswith("message_")], types

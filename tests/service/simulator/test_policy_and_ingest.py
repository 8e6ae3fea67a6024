"""Policy validation and changes (§2, R11) and ingest rules (R1–R5) through the real endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from wasession.domain.errors import ValidationError
from wasession.sandbox.bodies import text_message_body
from wasession.testing import Simulator

ANA = "15550001111"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reminder_after_hours": 0}, "reminder_after_hours"),
        ({"reminder_after_hours": 24}, "reminder_after_hours"),
        ({"reminder_template": "Hi {contact_nickname}"}, "reminder_template"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"session_timeout": "30s"}, "session_timeout"),
        ({"session_timeout": "91d"}, "session_timeout"),
        ({"closure_check": "25h"}, "closure_check"),
        ({"reminder_enabled": True, "reminder_template": "  "}, "reminder_template"),
    ],
)
def test_bad_policy_is_refused_naming_the_field_and_nothing_changes(
    sim: Simulator, changes: dict[str, object], field: str
) -> None:
    ch = sim.add_channel(session_timeout="2h", reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    before_policy = sim.channel(ch).policy
    before_session = sim.session(ch, wa_id=ANA)
    with pytest.raises(ValueError) as info:
        sim.update_policy(ch, **changes)
    assert isinstance(info.value, ValidationError)
    assert info.value.field == field
    assert field in str(info.value)
    assert sim.channel(ch).policy == before_policy
    assert sim.session(ch, wa_id=ANA) == before_session


def test_add_channel_refuses_bad_policy_too(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="reminder_after_hours"):
        sim.add_channel(reminder_after_hours=24)


def test_policy_change_reaches_active_sessions(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="24h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3h")
    sim.update_policy(ch, session_timeout="2h")  # already overdue: closes at once
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "active"
    sim.run_due()
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed" and s.closed_at == at("2026-01-05T18:00:00Z")


def test_turning_reminders_on_never_sends_overdue_ones(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="24h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # 15:00
    sim.advance("2h")
    sim.customer_message(ch, wa_id="15550002222", name="Bruno")  # 17:00
    sim.advance("1h")
    sim.update_policy(ch, reminder_enabled=True, reminder_after_hours=4)  # Ana due 19:00 (future), Bruno 21:00
    sim.update_policy(ch, reminder_after_hours=2)  # Ana's 17:00 has passed; Bruno's 19:00 has not
    sim.advance("10h")
    out = sim.outbox(ch)
    assert [(m.to, m.sent_at) for m in out] == [("+15550002222", at("2026-01-05T19:00:00Z"))]
    assert sim.session(ch, wa_id=ANA).reminder_state == "missed"


def test_turning_reminders_off_cancels_pending_ones(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=5)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    sim.update_policy(ch, reminder_enabled=False)
    sim.advance("10h")
    assert sim.outbox(ch) == []
    assert sim.session(ch, wa_id=ANA).reminder_state == "cancelled"


def test_duplicate_wamid_changes_nothing(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana", wamid="wamid.dup1")
    before = sim.session(ch, wa_id=ANA)
    sim.advance("1h")
    response = sim.customer_message(ch, wa_id=ANA, name="Ana", wamid="wamid.dup1")
    assert response.status_code == 200
    after = sim.session(ch, wa_id=ANA)
    assert after == before and len(sim.transcript(after)) == 1


def test_older_message_is_stored_in_place_and_does_not_move_t_back(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="second", at="2026-01-05T15:00:00Z")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="first", at="2026-01-05T14:58:00Z")
    s = sim.session(ch, wa_id=ANA)
    assert s.last_customer_message_at == at("2026-01-05T15:00:00Z")
    assert [m.body for m in sim.transcript(s)] == ["first", "second"]


def test_future_timestamps_are_clamped_to_arrival(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana", at=sim.now + timedelta(minutes=4))
    assert sim.session(ch, wa_id=ANA).last_customer_message_at == at("2026-01-05T15:04:00Z")
    sim.customer_message(ch, wa_id="15550002222", name="Bruno", at=sim.now + timedelta(hours=3))
    assert sim.session(ch, wa_id="15550002222").last_customer_message_at == sim.now


def test_user_id_only_contacts_get_sessions(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, user_id="US.13491208655302741918", name="Dana")
    sim.advance("1h")
    out = sim.outbox(ch)
    assert len(out) == 1 and out[0].to is None and out[0].recipient == "US.13491208655302741918"


def test_unsigned_and_badly_signed_bodies_are_refused_and_store_nothing(sim: Simulator) -> None:
    from sqlalchemy import func, select

    from wasession.store.schema import sessions, webhook_log

    ch = sim.add_channel()
    body = text_message_body(phone_number_id=ch.phone_number_id, wa_id=ANA, name="Ana", text="hi", timestamp=sim.now)
    assert sim.post_webhook(body, sign=False).status_code == 401
    assert sim.post_webhook(body, sign=False, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403
    assert sim.post_webhook(body, sign=False, headers={"X-Hub-Signature-256": "garbage"}).status_code == 403
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_log)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(sessions)).scalar() == 0


def test_webhook_body_over_3_mb_gets_413(sim: Simulator) -> None:
    sim.add_channel()
    assert sim.post_webhook(b"{" + b" " * (3 * 1024 * 1024) + b"}").status_code == 413


def test_verification_handshake(sim: Simulator) -> None:
    ch = sim.add_channel()
    ok = sim.client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": f"sim-verify-{ch.phone_number_id}",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = sim.client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"},
    )
    assert bad.status_code == 403


def test_agent_reply_refused_outside_the_window(sim: Simulator) -> None:
    from wasession.services import agents
    from wasession.services.errors import WindowClosedError

    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    agents.send_text(sim.runtime.ctx, s.id, "hello")
    sim.advance("24h")
    with pytest.raises(WindowClosedError) as info:
        agents.send_text(sim.runtime.ctx, s.id, "too late")
    assert info.value.code == "window_closed" and info.value.closed_at == at("2026-01-06T15:00:00Z")
    assert [m.body for m in sim.outbox(ch)] == ["hello"]

"""R23: Meta's pricing and conversation facts per outbound message, free entry point windows, referrals."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wasession.domain.pricing import MessagePricing
from wasession.sandbox.bodies import new_wamid, status_body, text_message_body
from wasession.store import pricing as pricing_store
from wasession.testing import Simulator

DATA = Path(__file__).parents[2] / "data" / "whatsapp-webhooks"
FIXTURE_PNID, FIXTURE_USER = "1122334455667", "972987654321"
ANA = "15550001111"


@pytest.fixture
def quiet_sim(sim_database_url: str | None) -> Iterator[Simulator]:
    """A Simulator whose fake sends no receipts: the test posts every status itself."""
    with Simulator(start="2026-01-05T15:00:00Z", database_url=sim_database_url, status_delays=None) as s:
        yield s


def fixture(name: str, case: str, wamid: str) -> dict[str, Any]:
    text = json.dumps(json.loads((DATA / name).read_text())[case]).replace("wamid.xyzxyz", wamid)
    body: dict[str, Any] = json.loads(text)
    return body


def stored(sim: Simulator, message_id: int) -> tuple[MessagePricing, int] | None:
    with sim.runtime.ctx.db.read() as conn:
        found = pricing_store.get(conn, message_id)
    return (found.pricing, found.status_order) if found else None


def one_reminder(sim: Simulator, pnid: str | None = None, user: str = ANA) -> tuple[Any, Any]:
    """A channel and the reminder it sent to `user` one hour after they wrote."""
    ch = sim.add_channel(phone_number_id=pnid, reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.customer_message(ch, wa_id=user, name="Ana")
    sim.advance("1h")
    reminder = next(m for m in sim.transcript(sim.session(ch, wa_id=user)) if m.kind == "reminder")
    assert reminder.wamid
    return ch, reminder


def test_fixture_statuses_keep_pricing_and_conversation_through_disorder_and_duplicates(quiet_sim: Simulator) -> None:
    sim = quiet_sim
    _, reminder = one_reminder(sim, FIXTURE_PNID, FIXTURE_USER)
    assert stored(sim, reminder.id) is None
    for case in ("read", "sent", "delivered", "sent", "read"):  # read first, duplicates after
        sim.post_webhook(fixture("message_status.json", case, reminder.wamid)).raise_for_status()
    pricing, order = stored(sim, reminder.id) or (None, None)
    assert pricing == MessagePricing(
        pricing_model="CBP",
        category="service",
        pricing_type=None,
        billable=True,
        conversation_id="7270432eae37498234f4444b35ffc5",
        origin_type="service",
        expires_at=datetime.fromtimestamp(1698339900, UTC),  # only `sent` carries it, and it came late
    )
    assert order == 3  # read
    assert sim.message(reminder.id).status == "read"


def post_status(sim: Simulator, pnid: str, wamid: str | None, status: str, **extra: Any) -> int:
    assert wamid is not None
    body = status_body(phone_number_id=pnid, wamid=wamid, status=status, timestamp=sim.now, recipient_id=ANA, **extra)
    return sim.post_webhook(body).status_code


def test_a_status_without_pricing_erases_nothing_and_an_older_one_only_fills_gaps(quiet_sim: Simulator) -> None:
    sim = quiet_sim
    ch, reminder = one_reminder(sim)

    def post(status: str, **extra: Any) -> None:
        assert post_status(sim, ch.phone_number_id, reminder.wamid, status, **extra) == 200

    regular = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    post("delivered", pricing=regular)
    post("read")  # no pricing at all
    post("sent", pricing={"pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
    pricing, order = stored(sim, reminder.id) or (None, None)
    assert pricing is not None and order == 2
    assert (pricing.category, pricing.pricing_type, pricing.billable) == ("utility", "regular", True)
    post("sent", pricing=regular)
    assert stored(sim, reminder.id) == (pricing, 2)  # a duplicate changes nothing


def test_unknown_pricing_values_are_kept_as_sent_and_logged_once(
    quiet_sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = quiet_sim
    ch, reminder = one_reminder(sim)
    odd = {"billable": "perhaps", "pricing_model": "XBP", "type": "free_galaxy", "category": "hologram"}
    conversation = {"id": 42, "origin": "not an object", "expiration_timestamp": "soon"}
    caplog.set_level(logging.WARNING, logger="wasession.whatsapp.pricing")
    for status in ("sent", "delivered"):
        assert (
            post_status(sim, ch.phone_number_id, reminder.wamid, status, pricing=odd, conversation=conversation) == 200
        )
    pricing, _ = stored(sim, reminder.id) or (None, None)
    assert pricing == MessagePricing(pricing_model="XBP", category="hologram", pricing_type="free_galaxy")
    assert sim.message(reminder.id).status == "delivered"
    lines = [r.getMessage() for r in caplog.records if "hologram" in r.getMessage()]
    assert len(lines) <= 1  # once per process (an earlier test in this worker may have logged it)


def referral_message(ch_pnid: str, text: str, source_id: str, at: datetime) -> dict[str, Any]:
    body = text_message_body(phone_number_id=ch_pnid, wa_id=ANA, name="Ana", text=text, timestamp=at, wamid=new_wamid())
    body["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = {
        "source_url": "https://fb.me/ad",
        "source_id": source_id,
        "source_type": "ad",
        "headline": "Spring sale",
        "ctwa_clid": "CLID" + source_id,
    }
    return body


def test_a_free_entry_point_window_is_reported_shown_and_announced(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.entry_point(ch, ANA)
    sim.post_webhook(referral_message(ch.phone_number_id, "saw your ad", "AD1", sim.now)).raise_for_status()
    sim.advance("30m")
    sim.post_webhook(referral_message(ch.phone_number_id, "again", "AD2", sim.now)).raise_for_status()
    sim.advance("1h1m")  # the reminder (16:30) went out inside the window and its statuses came back
    session = sim.session(ch, wa_id=ANA)
    meta = sim.meta_window(session)
    assert meta.referral is not None and meta.referral.referral["source_id"] == "AD1"  # the first one
    window = meta.free_window
    assert window is not None
    assert (window.origin_type, window.pricing_type) == ("referral_conversion", "free_entry_point")
    reminder_at = datetime(2026, 1, 5, 16, 30, tzinfo=UTC)
    assert window.expires_at == reminder_at + timedelta(hours=72)
    opened = [e for e in sim.timeline(session) if e.type == "free_window_opened"]
    assert len(opened) == 1
    assert opened[0].data["conversation_id"] == window.conversation_id
    assert opened[0].data["origin_type"] == "referral_conversion"


def test_without_an_entry_point_there_is_no_free_window(sim: Simulator) -> None:
    ch, reminder = one_reminder(sim)
    sim.advance("10s")
    session = sim.session(ch, wa_id=ANA)
    assert sim.meta_window(session).free_window is None and sim.meta_window(session).referral is None
    assert not [e for e in sim.timeline(session) if e.type == "free_window_opened"]
    pricing, _ = stored(sim, reminder.id) or (None, None)
    assert pricing is not None and (pricing.category, pricing.pricing_type) == ("service", "free_customer_service")


def test_the_fixture_referral_is_kept_on_the_session(sim: Simulator) -> None:
    ch = sim.add_channel(phone_number_id=FIXTURE_PNID)
    body = json.loads((DATA / "message.json").read_text())["referral"]
    sim.post_webhook(body).raise_for_status()
    sim.post_webhook(body).raise_for_status()  # Meta's retry: a duplicate changes nothing (R4)
    meta = sim.meta_window(sim.session(ch, wa_id=FIXTURE_USER))
    assert meta.referral is not None and meta.referral.wamid == "wamid.ID"
    assert meta.referral.referral["ctwa_clid"] == "CTWA_CLID" and meta.referral.referral["source_id"] == "ADID"


def test_values_meta_adds_later_reach_usage_unchanged(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.fake.set_pricing(ch.phone_number_id, ANA, {"pricing_model": "PMP", "type": "free_tomorrow", "category": "chat"})
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h10s")
    reminder = next(m for m in sim.transcript(sim.session(ch, wa_id=ANA)) if m.kind == "reminder")
    assert reminder.status == "read"
    [line] = sim.usage(ch).priced
    assert (line.category, line.type, line.automated) == ("chat", "free_tomorrow", 1)

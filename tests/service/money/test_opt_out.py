"""R24: a marketing opt-out (`user_preferences` stop, or error 131050) holds back automated marketing
template sends until a resume; 131049 defers them by 24 hours."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from tests.support.money import Money
from wasession.domain.pricing import marketing_skip_reason
from wasession.services import templates as template_service
from wasession.store import marketing as marketing_store
from wasession.store import sessions as session_store
from wasession.testing import Simulator
from wasession.testing.harness import served
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

ANA, BEN, CAROL, DAN = "15550001111", "15550002222", "15550003333", "15550004444"


def preferences(pnid: str, wa_id: str, value: str, at: int) -> dict[str, Any]:
    """A `user_preferences` webhook as Meta sends it (docs: webhooks reference, user_preferences)."""
    item = {
        "wa_id": wa_id,
        "detail": f"User requested to {value} marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": at,
    }
    value_obj = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}],
        "user_preferences": [item],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1029", "changes": [{"value": value_obj, "field": "user_preferences"}]}],
    }


def marketing_channel(sim: Simulator) -> Any:
    # The closing template goes out when the window is over; `follow_up` is MARKETING in the fake's account.
    ch = sim.add_channel(session_timeout="25h", closing_template={"name": "follow_up", "language": "en_US"})
    template_service.refresh(sim.runtime.ctx, sim.runtime.client_for, ch.id, waba_id="100000000000001")
    return ch


def marketing_state(sim: Simulator, ch: Any, wa_id: str) -> marketing_store.MarketingState | None:
    with sim.runtime.db.read() as conn:
        session = session_store.get(conn, sim.session(ch, wa_id=wa_id).id)
        assert session is not None
        return marketing_store.get(conn, session.contact_id)


def closing_events(sim: Simulator, ch: Any, wa_id: str) -> list[tuple[str, Any]]:
    return [
        (e.type, e.data.get("reason"))
        for e in sim.timeline(sim.session(ch, wa_id=wa_id))
        if e.type.startswith("closing_message")
    ]


def test_a_stop_holds_back_marketing_templates_until_a_resume(money: Money) -> None:
    sim = money.sim
    ch = marketing_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    raw = json.dumps(preferences(ch.phone_number_id, ANA, "stop", int(sim.now.timestamp()))).encode()
    with served(sim) as url:  # Meta's webhook on a real port, signed with the app secret
        answer = httpx.post(
            f"{url}/webhooks/whatsapp",
            content=raw,
            headers={SIGNATURE_HEADER: sign(sim.app_secret, raw), "Content-Type": "application/json"},
        )
        sim.drain()
    assert answer.status_code == 200
    sim.advance("26h")
    assert closing_events(sim, ch, ANA) == [("closing_message_skipped", "marketing_opt_out")]
    assert closing_events(sim, ch, BEN) == [("closing_message_queued", None)]
    assert [m.to for m in sim.outbox(ch)] == ["+" + BEN]
    assert "marketing_preference" in [e.type for e in sim.admin_events(ch)]
    sim.post_webhook(preferences(ch.phone_number_id, ANA, "resume", int(sim.now.timestamp())))
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("26h")
    assert sorted(m.to or "" for m in sim.outbox(ch)) == ["+" + ANA, "+" + BEN]


def test_131050_opts_out_and_131049_defers_by_24_hours(money: Money) -> None:
    sim = money.sim
    ch = marketing_channel(sim)
    sim.customer_message(ch, wa_id=CAROL, name="Carol")
    sim.fake.fail_next(131050)  # Meta: the user stopped marketing messages
    sim.advance("26h")
    carol = marketing_state(sim, ch, CAROL)
    assert carol is not None and carol.opt_out_source == "131050"
    sim.customer_message(ch, wa_id=CAROL, name="Carol")
    sim.advance("26h")
    assert closing_events(sim, ch, CAROL) == [("closing_message_skipped", "marketing_opt_out")]
    sim.customer_message(ch, wa_id=DAN, name="Dan")
    wrote = sim.now
    sim.fake.fail_next(131049)  # Meta's per-user marketing limit: try again in no less than 24 h
    sim.advance("26h")
    failed_at = wrote + timedelta(hours=25)  # the closing template's send, at the timeout
    dan = marketing_state(sim, ch, DAN)
    assert dan is not None and dan.opted_out_at is None and dan.deferred_until == failed_at + timedelta(hours=24)
    assert (
        marketing_skip_reason("MARKETING", False, dan.deferred_until, dan.deferred_until - timedelta(seconds=1))
        == "marketing_deferred"
    )
    assert marketing_skip_reason("MARKETING", False, dan.deferred_until, dan.deferred_until) is None
    assert marketing_skip_reason("UTILITY", True, None, failed_at) is None

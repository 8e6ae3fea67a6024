"""The services behind the session page and settings, on SQLite and (WASESSION_TEST_DATABASE=postgresql)
PostgreSQL: resend after a failure, the policy dry run against the save, and the template cache."""

from __future__ import annotations

import pytest

from wasession.domain.errors import ValidationErrors
from wasession.domain.states import Awaiting
from wasession.services import agents, policy_impact
from wasession.services import channels as channel_service
from wasession.services import resend as resend_service
from wasession.services import templates as template_service
from wasession.services.errors import ConflictError
from wasession.testing import Simulator

ANA, BEN = "15550001111", "15550002222"


def test_a_failed_reply_is_resent_once_and_awaiting_follows_the_truth(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    sim.fake.fail_next(131026)
    failed = agents.send_text(sim.runtime.ctx, sid, "hello")
    assert sim.session(ch, wa_id=ANA).awaiting == Awaiting.CUSTOMER  # queued: the agent has answered
    sim.advance("2s")
    assert sim.message(failed).status == "failed"
    assert sim.session(ch, wa_id=ANA).awaiting == Awaiting.AGENT
    again = resend_service.resend(sim.runtime.ctx, failed)
    sim.advance("2s")
    assert sim.message(again).status in ("accepted", "sent", "delivered")
    assert sim.session(ch, wa_id=ANA).awaiting == Awaiting.CUSTOMER
    with pytest.raises(ConflictError) as refused:
        resend_service.resend(sim.runtime.ctx, failed)
    assert refused.value.code == "already_resent"


def test_the_dry_run_announces_what_the_save_then_does(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="6h", reminder_enabled=True, reminder_after_hours=4)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3h")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    changes = {"session_timeout": "2h", "reminder_after_hours": 1}
    found = policy_impact.preview_policy(sim.runtime.ctx, ch.id, changes)
    assert (found.active, found.close_now, found.closures_moved) == (2, 1, 1)
    assert len(sim.active_sessions(ch)) == 2 and sim.channel(ch).policy.reminder_after_hours == 4
    channel_service.save_policy(sim.runtime.ctx, ch.id, changes)
    sim.run_due()
    assert [s.id for s in sim.active_sessions(ch)] == [sim.session(ch, wa_id=BEN).id]
    ana = sim.session(ch, wa_id=ANA).id
    assert [e.data["closes_now"] for e in sim.timeline(ana) if e.type == "session_replanned"] == [True]
    with pytest.raises(ValidationErrors) as bad:
        policy_impact.preview_policy(sim.runtime.ctx, ch.id, {"reminder_after_hours": 30, "timezone": "x"})
    assert sorted(e.field for e in bad.value.errors) == ["reminder_after_hours", "timezone"]


def test_templates_are_cached_and_rendered(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="72h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sid = sim.session(ch, wa_id=ANA).id
    found = template_service.refresh(sim.runtime.ctx, sim.runtime.client_for, ch.id, waba_id="100000000000001")
    assert [t.name for t in found.templates] == ["follow_up", "order_update", "order_update"]
    mid = template_service.send(sim.runtime.ctx, sid, "follow_up", "en_US", ["Ana"])
    assert sim.message(mid).body == "Hi Ana, can we help with anything else?"
    with pytest.raises(ValidationErrors):
        template_service.send(sim.runtime.ctx, sid, "order_update", "en_US", ["Ana", "#1", "extra"])

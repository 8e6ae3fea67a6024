"""Issue 22's Done-when through real HTTP both ways: wasession served on a port, the fake Chatwoot on
another, Meta's webhooks relayed to Chatwoot's inbox route, Chatwoot's account webhooks back, signed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.support.chatwoot import SECRET, WA_ID, World, event_types

# Together more than 10 s on a loaded 2-core machine: out of the loop between two edits.
pytestmark = pytest.mark.slow

POLICY: dict[str, Any] = {
    "session_timeout": "1h",
    "reminder_enabled": True,
    "reminder_steps": [{"after": "30m"}],
    "reminder_template": "Still there, {contact_firstname}?",
    "closing_message": "Closing now, bye {contact_firstname}",
}


def test_agent_reply_reminder_closing_and_resolve_once(world_factory: Any) -> None:
    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    assert session.awaiting == "agent"
    assert all(status == 200 for status, _ in w.fake.delivered), w.fake.delivered

    w.sim.advance("5m")
    reply = w.fake.agent_reply(conv.id, "Hi Ada, how can I help?")
    w.settle()
    session = w.sim.session(w.channel, wa_id=WA_ID)
    assert session.awaiting == "customer"
    assert session.last_customer_message_at == session.opened_at  # T did not move (R8)
    agent = [m for m in w.sim.transcript(session.id) if m.kind == "agent"]
    assert [m.body for m in agent] == ["Hi Ada, how can I help?"]
    assert "agent_message" in event_types(w.sim, session.id)

    # The same webhook again (Chatwoot re-sending, or a replay with a fresh signature): nothing changes.
    _, payload = next(p for p in w.fake.delivered if p[1].get("id") == reply.id and p[1]["event"] == "message_created")
    raw = json.dumps(payload).encode()
    again = w.post_raw(raw, w.signed_headers(raw))
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert len([m for m in w.sim.transcript(session.id) if m.kind == "agent"]) == 1

    # The reminder at T + 30 min is created in the conversation (Chatwoot sends it), once.
    w.sim.run_until(session.opened_at + timedelta(minutes=30))
    w.settle()
    assert w.outgoing(conv).count("Still there, Ada?") == 1
    assert w.sim.session(w.channel, wa_id=WA_ID).awaiting == "customer"  # our own echo is not an agent's

    # The plan is on the conversation as custom attributes (refreshed a second after a change).
    w.sim.advance("2s")
    w.settle()
    attributes = w.fake.conversations[conv.id].custom_attributes
    assert attributes["wasession_closes_at"] == session.closes_at.isoformat()
    assert attributes["wasession_next_reminder_at"] is None  # sent

    # At T + 1 h: closed by timeout, the closing message, then the conversation resolved, at that instant.
    w.sim.run_until(session.closes_at)
    w.settle()
    closed = w.sim.session(w.channel, wa_id=WA_ID)
    assert closed.status == "closed" and closed.close_reason == "timeout"
    assert w.outgoing(conv) == ["Hi Ada, how can I help?", "Still there, Ada?", "Closing now, bye Ada"]
    assert w.fake.conversations[conv.id].status == "resolved"
    resolves = [c for c in w.fake.calls if c[1].endswith("/toggle_status")]
    assert resolves == [("POST", f"/api/v1/accounts/1/conversations/{conv.id}/toggle_status", {"status": "resolved"})]
    assert w.sim.now == closed.closes_at  # nothing waited: resolved at the closing instant
    # Chatwoot's own status webhook for that resolve came back and changed nothing.
    assert event_types(w.sim, closed.id).count("session_closed") == 1


def test_resolving_snoozing_and_reopening_in_chatwoot(world_factory: Any) -> None:
    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)

    w.fake.set_status(conv.id, "snoozed")  # no time: until the customer's next reply
    w.settle()
    snoozed = w.sim.session(w.channel, wa_id=WA_ID)
    assert snoozed.snoozed_until == w.sim.now + timedelta(days=30)

    w.fake.set_status(conv.id, "open")
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).snoozed_until is None

    until = w.sim.now + timedelta(hours=3)
    w.fake.set_status(conv.id, "snoozed", until)
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).snoozed_until == until

    w.fake.set_status(conv.id, "resolved")
    w.settle()
    closed = w.sim.session(w.channel, wa_id=WA_ID)
    assert closed.status == "closed" and closed.close_reason == "closed_in_chatwoot"
    types = event_types(w.sim, session.id)
    assert "closing_message_queued" not in types  # no closing message for a resolve made in Chatwoot
    assert not [c for c in w.fake.calls if c[1].endswith("/toggle_status")]  # and we resolve nothing back
    assert [e for e in types if e == "session_snoozed"] == ["session_snoozed", "session_snoozed"]


def test_a_forged_stale_or_unsigned_webhook_is_refused_and_changes_nothing(world_factory: Any) -> None:
    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    before = w.sim.session(w.channel, wa_id=WA_ID)
    payload = {"event": "conversation_status_changed", "id": conv.id, "status": "resolved", "inbox_id": 1}
    payload["contact_inbox"] = {"source_id": WA_ID}
    raw = json.dumps(payload).encode()
    now = int(w.sim.now.timestamp())
    forged = w.post_raw(raw, w.signed_headers(raw, secret="not-the-secret-1"))
    stale = w.post_raw(raw, w.signed_headers(raw, at=now - 600))
    unsigned = w.post_raw(raw, {})
    for answer in (forged, stale, unsigned):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "bad_signature"
    assert "5 minutes" in stale.json()["error"]["message"]
    assert w.sim.session(w.channel, wa_id=WA_ID) == before
    good = w.post_raw(raw, w.signed_headers(raw))
    assert good.status_code == 200 and good.json()["result"] == "applied"
    assert w.sim.session(w.channel, wa_id=WA_ID).close_reason == "closed_in_chatwoot"
    assert SECRET  # the fixture's secret is the one that verifies


def test_reminder_and_closing_appear_once_across_a_chatwoot_outage(world_factory: Any) -> None:
    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.fake.fail_with = 503  # Chatwoot down behind its proxy: nothing reached it
    w.sim.run_until(session.opened_at + timedelta(minutes=30))
    w.settle()
    assert w.outgoing(conv) == []
    w.fake.fail_with = None
    w.sim.advance("2m")  # the outbox's backoff
    w.settle()
    assert w.outgoing(conv) == ["Still there, Ada?"]
    w.fake.fail_with = 503
    w.sim.run_until(session.closes_at)
    w.settle()
    assert w.fake.conversations[conv.id].status == "open"
    w.fake.fail_with = None
    w.sim.advance("5m")
    w.settle()
    assert w.outgoing(conv) == ["Still there, Ada?", "Closing now, bye Ada"]
    assert w.fake.conversations[conv.id].status == "resolved"


def test_a_send_whose_outcome_is_unknown_is_never_repeated(world_factory: Any) -> None:
    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.fake.fail_with = 500  # Chatwoot's application failed mid-request: it may have created it
    w.sim.run_until(session.opened_at + timedelta(minutes=30))
    w.settle()
    w.fake.fail_with = None
    w.sim.advance("10m")
    w.settle()
    reminder = [m for m in w.sim.transcript(session.id) if m.kind == "reminder"]
    assert [m.status for m in reminder] == ["unknown"]
    assert w.outgoing(conv) == []


def test_send_via_direct_sends_to_meta_and_adds_a_private_note(world_factory: Any) -> None:
    w: World = world_factory(send_via="direct", **POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.sim.run_until(session.opened_at + timedelta(minutes=30))
    w.settle()
    reminder = [m for m in w.sim.transcript(session.id) if m.kind == "reminder"]
    assert reminder and reminder[0].wamid and reminder[0].wamid.startswith("wamid.")  # Meta took it
    notes = [m.content for m in conv.messages if m.private]
    assert notes == ["wasession sent the reminder to WhatsApp: Still there, Ada?"]
    assert w.outgoing(conv) == []


def test_an_agent_reply_in_chatwoot_counts_for_timeout_from_last_message(world_factory: Any) -> None:
    w: World = world_factory(session_timeout="1h", timeout_from="last_message")
    conv = w.customer("hello")
    opened = w.sim.session(w.channel, wa_id=WA_ID)
    w.sim.advance("40m")
    w.fake.agent_reply(conv.id, "Let me check")
    w.settle()
    session = w.sim.session(w.channel, wa_id=WA_ID)
    assert session.closes_at == opened.closes_at + timedelta(minutes=40)
    assert session.last_customer_message_at == opened.last_customer_message_at
    w.sim.run_until(opened.closes_at)
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).status == "active"
    w.sim.run_until(session.closes_at)
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).close_reason == "timeout"
    assert w.fake.conversations[conv.id].status == "resolved"


def test_outside_the_window_the_closing_template_is_created_with_its_template_params(world_factory: Any) -> None:
    w: World = world_factory(
        session_timeout="25h", closing_message="Bye", closing_template={"name": "goodbye", "language": "en"}
    )
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.sim.run_until(session.closes_at)
    w.settle()
    [made] = [m for m in conv.messages if m.message_type == "outgoing"]
    assert made.template_params == {"name": "goodbye", "language": "en", "processed_params": {"body": {}}}
    assert made.content == "[template goodbye]"
    assert w.fake.conversations[conv.id].status == "resolved"


def test_an_agent_reply_in_chatwoot_after_a_closure_reopens_inside_the_window_only(world_factory: Any) -> None:
    w: World = world_factory(session_timeout="1h", timeout_from="last_message")  # the reply keeps it open
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.sim.run_until(session.closes_at + timedelta(minutes=5))
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).status == "closed"
    w.fake.agent_reply(conv.id, "Sorry for the wait")
    w.settle()
    reopened = w.sim.session(w.channel, wa_id=WA_ID)
    assert reopened.id == session.id and reopened.status == "active" and reopened.awaiting == "customer"
    assert "session_reopened" in event_types(w.sim, session.id)
    w.sim.run_until(session.window_closes_at + timedelta(hours=1))
    w.settle()
    assert w.sim.session(w.channel, wa_id=WA_ID).status == "closed"
    w.fake.agent_reply(conv.id, "Hello again?")
    w.settle()
    late = w.sim.session(w.channel, wa_id=WA_ID)
    assert late.status == "closed"
    assert [m.body for m in w.sim.transcript(late.id) if m.kind == "agent"][-1] == "Hello again?"


def test_another_inbox_a_paused_connection_and_an_unreachable_chatwoot(world_factory: Any) -> None:
    w: World = world_factory(session_timeout="1h")
    conv = w.customer("hello")
    before = w.sim.session(w.channel, wa_id=WA_ID)

    def status_change(**over: Any) -> dict[str, Any]:
        payload = {"event": "conversation_status_changed", "id": conv.id, "status": "resolved", "inbox_id": 1}
        payload["contact_inbox"] = {"source_id": WA_ID}
        raw = json.dumps({**payload, **over}).encode()
        answer = w.post_raw(raw, w.signed_headers(raw))
        assert answer.status_code in (200, 503), answer.text
        return dict(answer.json())

    assert status_change(inbox_id=99)["reason"] == "another Chatwoot account or inbox"
    w.api.post(f"/api/v1/chatwoot/{w.connection['id']}/pause").raise_for_status()
    assert status_change()["reason"] == "the connection is paused"
    w.api.post(f"/api/v1/chatwoot/{w.connection['id']}/resume").raise_for_status()
    # A conversation wasession has never seen, while Chatwoot's API is down: 503, nothing changes.
    w.fake.fail_with = 503
    unknown = status_change(id=conv.id + 50, contact_inbox=None)
    assert unknown["error"]["code"] == "chatwoot_unavailable"
    assert w.sim.session(w.channel, wa_id=WA_ID) == before


def test_a_reminder_sent_by_chatwoot_takes_its_wamid_and_follows_metas_statuses(world_factory: Any) -> None:
    from wasession.sandbox.bodies import status_body

    w: World = world_factory(**POLICY)
    conv = w.customer("hello")
    session = w.sim.session(w.channel, wa_id=WA_ID)
    w.sim.run_until(session.opened_at + timedelta(minutes=30))
    w.settle()
    [sent] = [m for m in conv.messages if m.content == "Still there, Ada?"]
    [reminder] = [m for m in w.sim.transcript(session.id) if m.kind == "reminder"]
    assert sent.source_id is not None and reminder.wamid == sent.source_id
    for status in ("sent", "delivered"):
        body = status_body(
            phone_number_id=w.channel.phone_number_id,
            wamid=sent.source_id,
            status=status,
            timestamp=w.sim.now,
            recipient_id=WA_ID,
        )
        w.sim.post_webhook(body).raise_for_status()
    assert w.sim.session(w.channel, wa_id=WA_ID).reminder_state == "delivered"

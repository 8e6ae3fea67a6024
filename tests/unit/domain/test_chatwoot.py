"""Chatwoot's webhooks read as lifecycle facts, without I/O: signing, what each payload means, and what a
conversation status does to a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wasession.domain.chatwoot import (
    OPEN_ENDED_SNOOZE,
    OWN_MARK,
    Kind,
    StatusAction,
    chatwoot_update,
    sign,
    signature_problem,
    snooze_end,
    status_action,
)

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


def test_signature_is_hmac_of_timestamp_dot_body_and_stale_ones_are_refused() -> None:
    body = b'{"event":"message_created"}'
    good = sign("s", TS, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert signature_problem("s", body, good, TS, NOW) is None
    assert "does not match" in (signature_problem("s", body + b" ", good, TS, NOW) or "")
    assert "does not match" in (signature_problem("t", body, good, TS, NOW) or "")
    old = str(int((NOW - timedelta(minutes=6)).timestamp()))
    assert "5 minutes" in (signature_problem("s", body, sign("s", old, body), old, NOW) or "")
    assert "missing" in (signature_problem("s", body, None, TS, NOW) or "")
    assert "unix time" in (signature_problem("s", body, good, "soon", NOW) or "")


def _message(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event": "message_created",
        "id": 7,
        "content": "hi",
        "message_type": "outgoing",
        "private": False,
        "sender": {"id": 1, "type": "user"},
        "created_at": "2026-01-05T15:00:00Z",
        "account": {"id": 1},
        "inbox": {"id": 2},
        "conversation": {"id": 3, "contact_inbox": {"source_id": "4915112345678"}},
    }
    return {**base, **over}


def test_only_an_agents_public_outgoing_message_is_an_agent_message() -> None:
    update = chatwoot_update(_message())
    assert update.kind is Kind.AGENT_MESSAGE
    assert (update.account_id, update.inbox_id, update.conversation_id, update.source_id) == (1, 2, 3, "4915112345678")
    assert update.at == NOW and update.message_id == 7
    for over, why in (
        ({"message_type": "incoming"}, "not an outgoing"),
        ({"private": True}, "private note"),
        ({"sender": {"type": "agent_bot"}}, "not from an agent"),
        ({"content_attributes": {OWN_MARK: "x"}}, "wasession created"),
    ):
        other = chatwoot_update(_message(**over))
        assert other.kind is Kind.MAPPING and why in other.why_ignored
        assert other.source_id == "4915112345678"  # the mapping is still learnt


def test_conversation_events_carry_the_status_and_unknown_ones_are_ignored() -> None:
    payload = {
        "event": "conversation_updated",
        "id": 3,
        "inbox_id": 2,
        "account_id": 1,
        "status": "snoozed",
        "snoozed_until": NOW.timestamp() + 60,
        "updated_at": NOW.timestamp(),
        "contact_inbox": {"source_id": "+4915112345678"},
    }
    update = chatwoot_update(payload)
    assert update.kind is Kind.STATUS and update.status == "snoozed" and update.source_id == "4915112345678"
    assert update.snoozed_until == NOW + timedelta(seconds=60)
    assert chatwoot_update({**payload, "event": "conversation_created"}).kind is Kind.MAPPING
    assert chatwoot_update({"event": "contact_updated"}).kind is Kind.IGNORED
    assert chatwoot_update([1, 2]).kind is Kind.IGNORED


def test_status_actions_are_idempotent_and_a_stale_change_does_nothing() -> None:
    def act(status: str, *, active: bool = True, snoozed: bool = False, at: datetime | None = NOW) -> StatusAction:
        return status_action(status, active=active, snoozed=snoozed, changed_at=at, last_customer_at=NOW)

    assert act("resolved") is StatusAction.CLOSE
    assert act("resolved", active=False) is StatusAction.NOTHING  # our own resolve echoed back
    assert act("resolved", at=NOW - timedelta(seconds=1)) is StatusAction.NOTHING  # before the customer wrote
    assert act("snoozed") is StatusAction.SNOOZE
    assert act("snoozed", snoozed=True) is StatusAction.NOTHING
    assert act("open", snoozed=True) is StatusAction.WAKE
    assert act("open") is StatusAction.NOTHING
    assert act("pending") is StatusAction.NOTHING
    assert snooze_end(None, NOW) == NOW + OPEN_ENDED_SNOOZE
    assert snooze_end(NOW + timedelta(hours=2), NOW) == NOW + timedelta(hours=2)
    assert snooze_end(NOW - timedelta(hours=2), NOW) == NOW + OPEN_ENDED_SNOOZE

"""EventType: the composed names the code builds are all members, and the event store refuses any other type."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.conftest import DATA
from wasession.domain.events import EventType, other_webhook_event
from wasession.store import events as event_store
from wasession.store.messages import STATUS_RANK
from wasession.store.schema import events as events_table
from wasession.testing import Simulator
from wasession.whatsapp.payload import NON_OPENING_TYPES, parse_webhook

OUTBOUND_KINDS = ("reminder", "agent", "template")
# What the sender records for a send, and what a failed status records.
SEND_OUTCOMES = ("accepted", "held", "retry", "unknown", "failed", "skipped")
# Statuses ingest can move an outbound message to: ranked above `accepted` (where a send starts).
DELIVERY_STATUSES = tuple(s for s, rank in STATUS_RANK.items() if rank > STATUS_RANK["accepted"])


def test_values_are_the_stored_strings() -> None:
    assert EventType.SESSION_CLOSED == "session_closed"
    assert EventType("reminder_skipped") is EventType.REMINDER_SKIPPED
    assert len({t.value for t in EventType}) == len(EventType)


@pytest.mark.parametrize("kind", OUTBOUND_KINDS)
@pytest.mark.parametrize("status", SEND_OUTCOMES + DELIVERY_STATUSES)
def test_every_status_of_every_outbound_kind_is_a_member(kind: str, status: str) -> None:
    prefix = "reminder" if kind == "reminder" else "message"
    assert EventType.for_status(kind, status).value == f"{prefix}_{status}"


def test_skips_are_per_prefix() -> None:
    assert EventType.for_skip("reminder") is EventType.REMINDER_SKIPPED
    assert EventType.for_skip("agent") is EventType.MESSAGE_SKIPPED
    assert EventType.for_skip("template") is EventType.MESSAGE_SKIPPED


@pytest.mark.parametrize("msg_type", sorted(NON_OPENING_TYPES))
def test_every_non_counting_message_type_is_a_member(msg_type: str) -> None:
    assert EventType.for_customer_non_counting(msg_type).value == f"customer_{msg_type}"


def test_every_other_update_in_the_real_webhook_bodies_is_a_member() -> None:
    kinds = set()
    for path in sorted((DATA / "whatsapp-webhooks").glob("*.json")):
        for body in json.loads(path.read_text()).values():
            kinds.update(o.kind for o in parse_webhook(body).others)
    assert kinds  # the fixtures do hold such updates
    for kind in kinds | {"malformed", "error", "message_echo", "call_status", "call_event"}:
        assert EventType.for_other_webhook(kind).value == f"webhook_{kind}"


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: EventType.for_status("reminder", "teleported"), "'teleported'"),
        (lambda: EventType.for_status("customer", "sent"), "'customer'"),
        (lambda: EventType.for_skip("carrier_pigeon"), "'carrier_pigeon'"),
        (lambda: EventType.for_customer_non_counting("text"), "'text'"),
        (lambda: EventType.for_other_webhook("brand_new_field"), "'brand_new_field'"),
        (lambda: EventType.parse("session_exploded"), "'session_exploded'"),
    ],
)
def test_unknown_parts_are_refused_by_name(build: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        build()  # type: ignore[operator]


def test_the_event_store_refuses_an_undocumented_type_and_stores_nothing() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ch = sim.add_channel()
        db = sim.runtime.db
        with db.read() as conn:
            before = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        with pytest.raises(ValueError, match="'session_exploded'"), db.write() as conn:
            event_store.add(
                conn, workspace_id=ch.workspace_id, channel_id=ch.id, type="session_opened", at=sim.clock.now()
            )
            event_store.add(
                conn, workspace_id=ch.workspace_id, channel_id=ch.id, type="session_exploded", at=sim.clock.now()
            )
        with db.read() as conn:
            after = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        assert after == before  # the transaction rolled back, the good row with it
        with db.write() as conn:
            event_store.add(
                conn, workspace_id=ch.workspace_id, channel_id=ch.id, type=EventType.POLICY_CHANGED, at=sim.clock.now()
            )
        with db.read() as conn:
            stored = conn.execute(select(events_table.c.type).order_by(events_table.c.id.desc())).scalars().first()
        assert stored == "policy_changed"


def test_an_update_kind_meta_added_later_is_unhandled_naming_it_not_refused() -> None:
    assert other_webhook_event("account_update") == (EventType.WEBHOOK_ACCOUNT_UPDATE, {})
    assert other_webhook_event("brand_new_field") == (EventType.WEBHOOK_UNHANDLED, {"kind": "brand_new_field"})

"""A webhook update wasession does not know yet is recorded as `webhook_unhandled`, and the rest of its body applies.

Every stored event type must be an `EventType` (the event store refuses others), but the kinds of
"other" updates come from Meta, which adds subscription fields and call events without notice.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from wasession.sandbox.bodies import text_message_body
from wasession.store.schema import events, webhook_log
from wasession.testing import Simulator

PNID = "106540352242922"


def _body_with(change: dict[str, Any], sim: Simulator) -> dict[str, Any]:
    body = text_message_body(phone_number_id=PNID, wa_id="15550001111", name="Ana Silva", text="hi", timestamp=sim.now)
    body["entry"][0]["changes"].append(change)
    return body


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"field": "brand_new_field", "value": {"metadata": {"phone_number_id": PNID}}}, "brand_new_field"),
        (
            {
                "field": "calls",
                "value": {
                    "metadata": {"phone_number_id": PNID},
                    "calls": [{"id": "c1", "event": "transfer", "direction": "BUSINESS_INITIATED"}],
                },
            },
            "call_transfer",
        ),
    ],
)
def test_an_unknown_update_is_recorded_by_kind_and_the_message_beside_it_still_opens_a_session(
    change: dict[str, Any], kind: str
) -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ch = sim.add_channel(phone_number_id=PNID)
        response = sim.post_webhook(_body_with(change, sim))
        assert response.status_code == 200
        with sim.runtime.db.read() as conn:
            outcome = conn.execute(
                select(webhook_log.c.outcome).where(webhook_log.c.id == response.json()["id"])
            ).scalar_one()
            recorded = conn.execute(
                select(events.c.type, events.c.session_id, events.c.data).where(events.c.type.like("webhook_%"))
            ).all()
        assert outcome is not None and outcome.get("error") is None, outcome
        assert sim.session(ch, wa_id="15550001111").status == "active"
        assert [(r.type, r.session_id, r.data) for r in recorded] == [
            ("webhook_unhandled", None, {"field": change["field"], "kind": kind})
        ]

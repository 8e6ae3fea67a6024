"""Every real webhook body (tests/data/whatsapp-webhooks, from pywa, MIT) through the real endpoint.

The expectation for each case comes from PRODUCT.md R2, written out by hand: which bodies open a
session (inbound user messages of every kind and user-initiated calls) and which must not
(reactions, deletions, system messages, statuses, echoes, business calls, account and template
updates).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import DATA
from wasession.store.schema import sessions, webhook_log
from wasession.testing import Simulator

OPENS = "opens"
NO_SESSION = "no session"

EXPECTED: dict[str, dict[str, str]] = {
    "account_update.json": {},  # every case: NO_SESSION (filled below)
    "call_connect.json": {"business_initiated": NO_SESSION, "user_initiated": OPENS},
    "call_permission_update.json": {"accept": OPENS, "reject": OPENS},  # an interactive reply from the user
    "call_status.json": {"call_status": NO_SESSION},
    "call_terminate.json": {"call_terminate": NO_SESSION},
    "callback_button.json": {"button": OPENS, "quick_reply": OPENS, "quick_reply_without_context": OPENS},
    "callback_selection.json": {"callback": OPENS, "description": OPENS},
    "deleted_message.json": {"revoke": NO_SESSION},
    "edited_message.json": {"image": OPENS},
    "flow_completion.json": {"completion": OPENS, "without_flow_token": OPENS},
    "message.json": {
        "reaction": NO_SESSION,
        "unreaction_empty": NO_SESSION,
        "unreaction_no_emoji": NO_SESSION,
    },
    "message_status.json": {},
    "outgoing_message.json": {},
    "system.json": {},
    "template_category_update.json": {},
    "template_components_update.json": {},
    "template_quality_update.json": {},
    "template_status_update.json": {},
    "user_marketing_preferences.json": {},
}
# Files where every case but the ones listed opens a session.
DEFAULT_OPENS = {"message.json"}

CHANNEL_IDS = ("1122334455667", "743897493242", "5483758353", "37489742", "106540352242922")


def _cases() -> list[tuple[str, str, str]]:
    out = []
    for name in sorted(EXPECTED):
        bodies = json.loads((DATA / "whatsapp-webhooks" / name).read_text())
        for case in bodies:
            default = OPENS if name in DEFAULT_OPENS else NO_SESSION
            out.append((name, case, EXPECTED[name].get(case, default)))
    return out


def _window_opening_timestamp(body: dict[str, Any]) -> datetime:
    value = body["entry"][0]["changes"][0]["value"]
    item = (value.get("messages") or value.get("calls"))[0]
    return datetime.fromtimestamp(int(item["timestamp"]), UTC)


@pytest.mark.parametrize(("name", "case", "expected"), _cases(), ids=lambda v: str(v))
def test_fixture_case(name: str, case: str, expected: str) -> None:
    body = json.loads((DATA / "whatsapp-webhooks" / name).read_text())[case]
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        for pnid in CHANNEL_IDS:
            sim.add_channel(phone_number_id=pnid)
        response = sim.post_webhook(body)
        assert response.status_code == 200, response.text
        with sim.runtime.db.read() as conn:
            rows = conn.execute(select(sessions.c.status, sessions.c.last_customer_at)).all()
            logged = conn.execute(select(func.count()).select_from(webhook_log)).scalar()
        assert logged == 1  # every accepted body is kept
        if expected == OPENS:
            assert len(rows) == 1
            assert rows[0].status == "active"
            assert rows[0].last_customer_at == _window_opening_timestamp(body)
        else:
            assert rows == []
        # Unsigned, the same body is refused and adds nothing.
        assert sim.post_webhook(body, sign=False).status_code == 401
        with sim.runtime.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(webhook_log)).scalar() == 1


def test_user_who_changed_number_keeps_contact_and_session() -> None:
    bodies = json.loads((DATA / "whatsapp-webhooks" / "system.json").read_text())
    with Simulator(start="2025-07-30T05:00:00Z") as sim:
        ch = sim.add_channel(phone_number_id="1122334455667", session_timeout="7d")
        sim.customer_message(ch, wa_id="972987654321", name="User A", at="2025-07-30T04:00:00Z")
        before = sim.session(ch, wa_id="972987654321")
        assert sim.post_webhook(bodies["phone_number_change"]).status_code == 200
        after = sim.session(ch, wa_id="972912345678")
        assert after.id == before.id and after.status == "active"
        assert (
            after.last_customer_at == before.last_customer_at
        )  # a system message is not the customer writing

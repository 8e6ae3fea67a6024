"""Every real webhook body (tests/data/whatsapp-webhooks, from pywa, MIT) through the real endpoint.

The expectation for each case comes from R2 (`docs/rules.md`), written out by hand: which bodies open a
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


UNCLAIMED = "<BUSINESS_PHONE_NUMBER_ID>"  # a placeholder, not digits: refused before any signature check


@pytest.mark.parametrize(("name", "case", "expected"), _cases(), ids=lambda v: str(v))
def test_fixture_case(name: str, case: str, expected: str) -> None:
    body = json.loads((DATA / "whatsapp-webhooks" / name).read_text())[case]
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        for pnid in CHANNEL_IDS:
            sim.add_channel(phone_number_id=pnid)
        response = sim.post_webhook(body)
        if UNCLAIMED in json.dumps(body):
            assert response.status_code == 422, response.text  # not a number Meta would send
            return
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
        # a system message is not the customer writing
        assert after.last_customer_message_at == before.last_customer_message_at


# -- the exact effect of every case (issue 3) ---------------------------------------------------------

USER = ("972987654321", "US.13491208655302741918")
# Transcript row (type, body) and contact (wa_id, user_id) of every window-opening case, by hand
# from the fixture files.
OPENING_ROWS: dict[tuple[str, str], tuple[str, str, tuple[str, str]]] = {
    ("call_connect.json", "user_initiated"): ("call", "[call]", USER),
    ("call_permission_update.json", "accept"): ("interactive", "[call permission: accept]", USER),
    ("call_permission_update.json", "reject"): ("interactive", "[call permission: reject]", USER),
    ("callback_button.json", "button"): ("interactive", "title", USER),
    ("callback_button.json", "quick_reply"): ("button", "title", USER),
    ("callback_button.json", "quick_reply_without_context"): ("button", "title", USER),
    ("callback_selection.json", "callback"): ("interactive", "title", USER),
    ("callback_selection.json", "description"): ("interactive", "title", USER),
    ("edited_message.json", "image"): ("edit", "Updated image caption", ("16505551234", "US.13491208655302741918")),
    ("flow_completion.json", "completion"): ("interactive", "Sent", USER),
    ("flow_completion.json", "without_flow_token"): ("interactive", "Sent", USER),
    ("message.json", "text"): ("text", "Body Text", USER),
    ("message.json", "image"): ("image", "[image]", USER),
    ("message.json", "media_with_url"): ("image", "[image]", USER),
    ("message.json", "video"): ("video", "caption", USER),
    ("message.json", "document"): ("document", "caption", USER),
    ("message.json", "audio"): ("audio", "[audio]", USER),
    ("message.json", "voice"): ("audio", "[voice message]", USER),
    ("message.json", "static_sticker"): ("sticker", "[sticker]", USER),
    ("message.json", "animated_sticker"): ("sticker", "[sticker]", USER),
    ("message.json", "current_location"): ("location", "[location]", USER),
    ("message.json", "chosen_location"): (
        "location",
        "[location: Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025]",
        USER,
    ),
    ("message.json", "contacts"): ("contacts", "[contacts: Chandler Bing, Monica, Rachel Green]", USER),
    ("message.json", "order"): ("order", "[order: 3 items]", USER),
    ("message.json", "unsupported"): ("unsupported", "[unsupported message]", USER),
    ("message.json", "unsupported_with_type"): ("unsupported", "[unsupported: pool]", USER),
    ("message.json", "reply"): ("text", "replied text", USER),
    ("message.json", "forwarded"): ("text", "forwarded text", USER),
    ("message.json", "forwarded_many_times"): ("text", "text forwarded many times", USER),
    ("message.json", "interactive_message_with_err"): ("interactive", "[interactive]", USER),
    ("message.json", "referral"): ("text", "BODY", USER),
}
# Inbound items that do not open a session: the contact is still known, the item is on no transcript.
NON_OPENING_CONTACTS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("message.json", "reaction"): USER,
    ("message.json", "unreaction_empty"): USER,
    ("message.json", "unreaction_no_emoji"): USER,
    ("system.json", "phone_number_change"): ("972912345678", None),  # re-keyed to the new number
    ("system.json", "identity_change"): ("972987654321", None),
}
# message_status.json: the state a pre-sent outbound message ends in.
STATUS_RESULT = {
    "sent": ("sent", None),
    "delivered": ("delivered", None),
    "read": ("read", None),
    "played": ("played", None),
    "failed": ("failed", 130472),
    "with_tracker": ("sent", None),
    "group": ("accepted", None),  # <BUSINESS_PHONE_NUMBER_ID> is no channel: unroutable, nothing changes
}


def _contacts_of(sim: Simulator) -> list[tuple[str | None, str | None]]:
    from wasession.store.schema import contacts

    with sim.runtime.db.read() as conn:
        return [(r.wa_id, r.user_id) for r in conn.execute(select(contacts.c.wa_id, contacts.c.user_id))]


def test_the_tables_cover_every_case() -> None:
    covered = set(OPENING_ROWS) | set(NON_OPENING_CONTACTS) | {("message_status.json", c) for c in STATUS_RESULT}
    inbound = {(n, c) for n, c, _ in _cases() if (n, c) in covered}
    assert {(n, c) for n, c, e in _cases() if e == OPENS} == set(OPENING_ROWS)
    assert covered == inbound


@pytest.mark.parametrize(("name", "case", "expected"), _cases(), ids=lambda v: str(v))
def test_fixture_case_exact_effect(name: str, case: str, expected: str) -> None:
    from wasession.services import agents
    from wasession.store import messages as message_store

    body = json.loads((DATA / "whatsapp-webhooks" / name).read_text())[case]
    with Simulator(start="2026-01-05T15:00:00Z", status_delays=None) as sim:
        for pnid in CHANNEL_IDS:
            sim.add_channel(phone_number_id=pnid)
        pre_sent = None
        if name == "message_status.json":
            ch = sim.channel(1)
            sim.customer_message(ch, wa_id=USER[0], name="User", at="2026-01-05T14:00:00Z")
            pre_sent = agents.send_text(sim.runtime.ctx, sim.session(ch, wa_id=USER[0]).id, "hello")
            sim.run_due()
            wamid = body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
            with sim.runtime.db.write() as conn:
                message_store.update_message(conn, pre_sent, wamid=wamid)
        if UNCLAIMED in json.dumps(body):
            assert sim.post_webhook(body).status_code == 422
            return
        assert sim.post_webhook(body).status_code == 200
        with sim.runtime.db.read() as conn:
            rows = conn.execute(select(sessions.c.id)).scalars().all()
            outcome = conn.execute(select(webhook_log.c.outcome).order_by(webhook_log.c.id.desc())).scalar()
        if (name, case) in OPENING_ROWS:
            kind, text, ids = OPENING_ROWS[(name, case)]
            assert len(rows) == 1
            transcript = sim.transcript(rows[0])
            assert [(m.direction, m.type, m.body) for m in transcript] == [("in", kind, text)]
            assert _contacts_of(sim) == [ids]
        elif (name, case) in NON_OPENING_CONTACTS:
            assert rows == []
            assert _contacts_of(sim) == [NON_OPENING_CONTACTS[(name, case)]]
        elif pre_sent is not None:
            status, code = STATUS_RESULT[case]
            with sim.runtime.db.read() as conn:
                row = message_store.get(conn, pre_sent)
            assert row is not None and (row.status, row.error_code) == (status, code)
        else:
            # Account, template, call-progress, echo and deletion updates: no session, no contact.
            assert rows == [] and _contacts_of(sim) == []
        assert outcome is not None and outcome["error"] is None

"""parse_webhook against every real body in tests/data/whatsapp-webhooks, plus hostile input."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasession.whatsapp.errors import CloudError
from wasession.whatsapp.payload import (
    ContactInfo,
    InboundMessage,
    OtherUpdate,
    PayloadError,
    StatusUpdate,
    WebhookBatch,
    parse_webhook,
)

FIXTURES = Path(__file__).parents[2] / "data" / "whatsapp-webhooks"

# What each case yields, in order: "msg:<type>:opens" / "msg:<type>:no" for an InboundMessage and
# whether it opens the window (`docs/rules.md`, R2), "status:<status>", "other:<field>:<kind>".
ACCOUNT = ["other:account_update:account_update"]
EXPECTED: dict[str, dict[str, list[str]]] = {
    "account_update.json": {
        case: ACCOUNT
        for case in (
            "account_deleted",
            "account_restriction",
            "account_violation",
            "ad_account_linked",
            "authentication_international_eligibility",
            "account_disabled",
            "mm_api_for_wa_terms_of_service",
            "partner_added",
            "partner_app_installed",
            "partner_app_uninstalled",
            "partner_led_business_verification_status",
            "partner_removed",
            "partner_removed_wa_app_disconnection",
            "primary_business_location_set",
            "pricing_tiering_update",
            "account_offboarded",
            "account_reconnected",
        )
    },
    "call_connect.json": {
        "business_initiated": ["other:calls:call_connect"],
        "user_initiated": ["msg:call:opens"],
    },
    "call_permission_update.json": {
        "accept": ["msg:interactive:opens"],
        "reject": ["msg:interactive:opens"],
    },
    "call_status.json": {"call_status": ["other:calls:call_status"]},
    "call_terminate.json": {"call_terminate": ["other:calls:call_terminate", "other:calls:error"]},
    "callback_button.json": {
        "button": ["msg:interactive:opens"],
        "quick_reply": ["msg:button:opens"],
        "quick_reply_without_context": ["msg:button:opens"],
    },
    "callback_selection.json": {
        "callback": ["msg:interactive:opens"],
        "description": ["msg:interactive:opens"],
    },
    "deleted_message.json": {"revoke": ["msg:revoke:no"]},
    "edited_message.json": {"image": ["msg:edit:opens"]},
    "flow_completion.json": {
        "completion": ["msg:interactive:opens"],
        "without_flow_token": ["msg:interactive:opens"],
    },
    "message.json": {
        "text": ["msg:text:opens"],
        "image": ["msg:image:opens"],
        "media_with_url": ["msg:image:opens"],
        "video": ["msg:video:opens"],
        "document": ["msg:document:opens"],
        "audio": ["msg:audio:opens"],
        "voice": ["msg:audio:opens"],
        "static_sticker": ["msg:sticker:opens"],
        "animated_sticker": ["msg:sticker:opens"],
        "reaction": ["msg:reaction:no"],
        "unreaction_empty": ["msg:reaction:no"],
        "unreaction_no_emoji": ["msg:reaction:no"],
        "current_location": ["msg:location:opens"],
        "chosen_location": ["msg:location:opens"],
        "contacts": ["msg:contacts:opens"],
        "order": ["msg:order:opens"],
        "unsupported": ["msg:unsupported:opens"],
        "unsupported_with_type": ["msg:unsupported:opens"],
        "reply": ["msg:text:opens"],
        "forwarded": ["msg:text:opens"],
        "forwarded_many_times": ["msg:text:opens"],
        "interactive_message_with_err": ["msg:interactive:opens", "other:messages:error"],
        "referral": ["msg:text:opens"],
    },
    "message_status.json": {
        "sent": ["status:sent"],
        "delivered": ["status:delivered"],
        "read": ["status:read"],
        "played": ["status:played"],
        "failed": ["status:failed"],
        "with_tracker": ["status:sent"],
        "group": ["status:read"],
    },
    "outgoing_message.json": {
        "text": ["other:smb_message_echoes:message_echo"],
        "delete": ["other:smb_message_echoes:message_echo"],
        "edit": ["other:smb_message_echoes:message_echo"],
    },
    "system.json": {
        "phone_number_change": ["msg:system:no"],
        "identity_change": ["msg:system:no"],
    },
    "template_category_update.json": {
        "marketing": ["other:template_category_update:template_category_update"],
    },
    "template_components_update.json": {
        "element": ["other:message_template_components_update:message_template_components_update"],
    },
    "template_quality_update.json": {
        "yellow": ["other:message_template_quality_update:message_template_quality_update"],
    },
    "template_status_update.json": {
        "approved": ["other:message_template_status_update:message_template_status_update"],
        "rejected": ["other:message_template_status_update:message_template_status_update"],
    },
    "user_marketing_preferences.json": {
        "resume": ["other:user_preferences:user_preferences"],
        "signup": ["other:user_preferences:user_preferences"],
    },
}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _all_cases() -> list[tuple[str, str]]:
    return [(p.name, case) for p in sorted(FIXTURES.glob("*.json")) for case in _load(p.name)]


def _summary(batch: WebhookBatch) -> list[str]:
    out = [f"msg:{m.type}:{'opens' if m.opens_window else 'no'}" for m in batch.messages]
    out += [f"status:{s.status}" for s in batch.statuses]
    out += [f"other:{o.field}:{o.kind}" for o in batch.others]
    return out


def test_the_table_covers_every_fixture_case() -> None:
    on_disk = {(name, case) for name, case in _all_cases()}
    in_table = {(name, case) for name, cases in EXPECTED.items() for case in cases}
    assert on_disk == in_table


@pytest.mark.parametrize(("name", "case"), _all_cases(), ids=lambda v: str(v))
def test_every_fixture_case(name: str, case: str) -> None:
    body = _load(name)[case]
    raw = json.dumps(body).encode()
    batch = parse_webhook(raw)
    assert _summary(batch) == EXPECTED[name][case]
    assert parse_webhook(body) == batch  # a mapping parses exactly like its bytes
    for m in batch.messages:
        assert m.timestamp.tzinfo is UTC
        assert m.phone_number_id and m.wamid
        assert m.wa_id or m.user_id
        assert m.text
    for o in batch.others:
        assert o.kind != "malformed"


def _one_message(name: str, case: str) -> InboundMessage:
    batch = parse_webhook(_load(name)[case])
    assert len(batch.messages) == 1
    return batch.messages[0]


def _one_status(case: str) -> StatusUpdate:
    batch = parse_webhook(_load("message_status.json")[case])
    assert len(batch.statuses) == 1
    return batch.statuses[0]


def test_text_message_fields() -> None:
    m = _one_message("message.json", "text")
    assert m.phone_number_id == "1122334455667"
    assert m.wamid == "wamid.xyzxyz"
    assert m.timestamp == datetime.fromtimestamp(1697043223, UTC)
    assert m.wa_id == "972987654321"
    assert m.user_id == "US.13491208655302741918"
    assert m.contact == ContactInfo(
        wa_id="972987654321",
        user_id="US.13491208655302741918",
        parent_user_id="US.ENT.11815799212886844830",
        profile_name="Test Name",
        username=None,
    )
    assert m.text == "Body Text"
    assert m.raw["text"] == {"body": "Body Text"}
    assert m.group_id is None and m.context_wamid is None
    assert m.system_new_wa_id is None and m.system_new_user_id is None


@pytest.mark.parametrize(
    ("name", "case", "text"),
    [
        ("message.json", "image", "[image]"),
        ("message.json", "video", "caption"),
        ("message.json", "document", "caption"),
        ("message.json", "audio", "[audio]"),
        ("message.json", "voice", "[voice message]"),
        ("message.json", "static_sticker", "[sticker]"),
        ("message.json", "reaction", "😮"),
        ("message.json", "unreaction_empty", "[reaction removed]"),
        ("message.json", "current_location", "[location]"),
        ("message.json", "chosen_location", "[location: Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025]"),
        ("message.json", "contacts", "[contacts: Chandler Bing, Monica, Rachel Green]"),
        ("message.json", "order", "[order: 3 items]"),
        ("message.json", "unsupported", "[unsupported message]"),
        ("message.json", "unsupported_with_type", "[unsupported: pool]"),
        ("message.json", "interactive_message_with_err", "[interactive]"),
        ("callback_button.json", "button", "title"),
        ("callback_button.json", "quick_reply", "title"),
        ("callback_selection.json", "description", "title"),
        ("flow_completion.json", "completion", "Sent"),
        ("call_permission_update.json", "accept", "[call permission: accept]"),
        ("edited_message.json", "image", "Updated image caption"),
        ("deleted_message.json", "revoke", "[message deleted]"),
        ("call_connect.json", "user_initiated", "[call]"),
        ("system.json", "identity_change", "User identity changed"),
    ],
)
def test_text_summaries(name: str, case: str, text: str) -> None:
    assert _one_message(name, case).text == text


@pytest.mark.parametrize(
    ("name", "case", "context"),
    [
        ("message.json", "reply", "wamid.xyzxyz=="),
        ("message.json", "forwarded", None),  # context without an id
        ("message.json", "reaction", "wamid.yzxyzx="),
        ("callback_button.json", "quick_reply_without_context", None),
        ("edited_message.json", "image", "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="),
        ("deleted_message.json", "revoke", "<ORIGINAL_WHATSAPP_MESSAGE_ID>"),
    ],
)
def test_context_wamid(name: str, case: str, context: str | None) -> None:
    assert _one_message(name, case).context_wamid == context


def test_user_initiated_call_is_a_window_opening_message() -> None:
    m = _one_message("call_connect.json", "user_initiated")
    assert m.type == "call" and m.opens_window
    assert m.wamid == "wacid.xxxx="
    assert m.phone_number_id == "743897493242"
    assert m.wa_id == "972987654321"
    assert m.timestamp == datetime.fromtimestamp(1752583107, UTC)


def test_from_user_id_is_preferred_over_the_contact() -> None:
    m = _one_message("callback_button.json", "quick_reply_without_context")
    assert m.user_id == "US.13491208655302741918"


def test_number_change_exposes_the_new_wa_id() -> None:
    m = _one_message("system.json", "phone_number_change")
    assert m.type == "system" and not m.opens_window
    assert m.wa_id == "972987654321"  # the old number, which the contact is known by
    assert m.system_new_wa_id == "972912345678"
    assert m.contact is None


def test_user_id_change_exposes_the_new_user_id() -> None:
    body = _load("system.json")["phone_number_change"]
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["from_user_id"] = "US.1"
    msg["system"] = {"body": "User changed user id", "type": "user_changed_user_id", "user_id": "US.2"}
    del msg["from"]
    m = parse_webhook(body).messages[0]
    assert m.user_id == "US.1" and m.wa_id is None
    assert m.system_new_user_id == "US.2" and m.system_new_wa_id is None


def test_statuses() -> None:
    sent = _one_status("with_tracker")
    assert sent.wamid == "wamid.xyzxyz"
    assert sent.status == "sent"
    assert sent.recipient_id == "972987654321"
    assert sent.biz_opaque_callback_data == "some data"
    assert sent.timestamp == datetime.fromtimestamp(1698266945, UTC)
    assert sent.errors == ()
    failed = _one_status("failed")
    assert failed.errors == (
        CloudError(
            code=130472,
            title="User's number is part of an experiment",
            message="User's number is part of an experiment",
            details="Failed to send message because this user's phone number is part of an experiment",
        ),
    )
    group = _one_status("group")
    assert group.recipient_id == "fowefinoewcnw"
    assert group.raw["recipient_type"] == "group"


def _text_body(messages: list[Any], contacts: list[Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "123"},
        "messages": messages,
    }
    if contacts is not None:
        value["contacts"] = contacts
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def _msg(**over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "from": "15551234567",
        "id": "wamid.A",
        "timestamp": "1767225600",
        "type": "text",
        "text": {"body": "hi"},
    }
    m.update(over)
    return {k: v for k, v in m.items() if v is not None}


def test_user_id_only_contact() -> None:
    body = _text_body(
        [_msg(**{"from": None, "from_user_id": "US.77"})],
        [{"profile": {"name": "Ana", "username": "@ana"}, "user_id": "US.77", "parent_user_id": "US.ENT.1"}],
    )
    m = parse_webhook(body).messages[0]
    assert m.wa_id is None and m.user_id == "US.77"
    assert m.contact == ContactInfo(None, "US.77", "US.ENT.1", "Ana", "@ana")


def test_contact_is_matched_by_id_in_a_batch_of_several() -> None:
    body = _text_body(
        [_msg(id=f"wamid.{n}", **{"from": n}) for n in ("1", "2", "3")],
        [{"profile": {"name": "Two"}, "wa_id": "2"}, {"profile": {"name": "One"}, "wa_id": "1"}],
    )
    names = [m.contact.profile_name if m.contact else None for m in parse_webhook(body).messages]
    assert names == ["One", "Two", None]


def test_group_message() -> None:
    m = parse_webhook(_text_body([_msg(group_id="120363000000000000@g.us")])).messages[0]
    assert m.group_id == "120363000000000000@g.us"


@pytest.mark.parametrize("kind", ["request_welcome", "button", "poll", "some_future_type", "edit"])
def test_other_user_types_open_the_window(kind: str) -> None:
    m = parse_webhook(_text_body([_msg(type=kind, text=None)])).messages[0]
    assert m.type == kind and m.opens_window
    assert m.text


@pytest.mark.parametrize("kind", ["reaction", "revoke", "system"])
def test_non_opening_types(kind: str) -> None:
    assert not parse_webhook(_text_body([_msg(type=kind)])).messages[0].opens_window


def test_int_timestamp_is_tolerated() -> None:
    m = parse_webhook(_text_body([_msg(timestamp=1767225600)])).messages[0]
    assert m.timestamp == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "timestamp",
    [None, "", "abc", "12.5x", "-5", -5, True, [], {}, "1e9", "99999999999999999999", 10**30, float("nan"), "١٢٣"],
)
def test_bad_timestamp_makes_that_message_malformed(timestamp: Any) -> None:
    good = _msg(id="wamid.good")
    bad = _msg(id="wamid.bad")
    bad["timestamp"] = timestamp
    if timestamp is None:
        del bad["timestamp"]
    batch = parse_webhook(_text_body([bad, good]))
    assert [m.wamid for m in batch.messages] == ["wamid.good"]
    assert [o.kind for o in batch.others] == ["malformed"]
    assert "timestamp" in batch.others[0].raw["reason"]
    assert batch.others[0].phone_number_id == "123"


@pytest.mark.parametrize(
    "message",
    [None, 5, "text", [], _msg(id=None), _msg(id=""), _msg(id=7), _msg(type=None), _msg(type=3)],
)
def test_unreadable_message_becomes_malformed(message: Any) -> None:
    batch = parse_webhook(_text_body([message, _msg(id="wamid.ok")]))
    assert [m.wamid for m in batch.messages] == ["wamid.ok"]
    assert [o.kind for o in batch.others] == ["malformed"]


def test_missing_phone_number_id_makes_items_malformed() -> None:
    body = _text_body([_msg()])
    del body["entry"][0]["changes"][0]["value"]["metadata"]
    batch = parse_webhook(body)
    assert batch.messages == ()
    assert [(o.kind, o.phone_number_id) for o in batch.others] == [("malformed", None)]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"object": "whatsapp_business_account", "entry": [', "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'"whatsapp"', "expected a JSON object"),
        (b"{}", "'object'"),
        (b'{"object": "page", "entry": []}', "'object'"),
        (b'{"object": "whatsapp_business_account"}', "'entry'"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "'entry'"),
        (b"[" * 50_000, "not valid JSON"),
    ],
)
def test_unusable_envelope_raises_payload_error(raw: bytes, why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        parse_webhook(raw)


def test_truncated_fixture_bodies_raise_payload_error() -> None:
    raw = json.dumps(_load("message.json")["text"]).encode()
    for cut in range(0, len(raw) - 1, 7):
        with pytest.raises(PayloadError):
            parse_webhook(raw[:cut])


@pytest.mark.parametrize(
    "entry",
    [
        [1],
        [{"changes": None}],
        [{"changes": [1]}],
        [{"changes": [{"field": 1, "value": {}}]}],
        [{"changes": [{"field": "messages", "value": []}]}],
        [{"changes": [{"field": "messages", "value": {"messages": {}}}]}],
        [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "statuses": [1]}}]}],
    ],
)
def test_wrongly_typed_parts_become_malformed_updates(entry: list[Any]) -> None:
    batch = parse_webhook({"object": "whatsapp_business_account", "entry": entry})
    assert [o.kind for o in batch.others] == ["malformed"]
    assert isinstance(batch.others[0].raw["reason"], str)


def test_empty_entry_list_is_an_empty_batch() -> None:
    assert parse_webhook(b'{"object": "whatsapp_business_account", "entry": []}') == WebhookBatch((), (), ())


def test_a_status_without_id_is_malformed_not_fatal() -> None:
    body = _load("message_status.json")["sent"]
    del body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    batch = parse_webhook(body)
    assert batch.statuses == ()
    assert [o.kind for o in batch.others] == ["malformed"]


def test_unknown_field_is_an_other_update() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "security", "value": {"event": "PIN_CHANGED"}}]}],
    }
    assert parse_webhook(body).others == (
        OtherUpdate(field="security", phone_number_id=None, kind="security", raw={"event": "PIN_CHANGED"}),
    )


# -- fuzzing: whatever is done to a real body, only PayloadError may escape ------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
ALL_BODIES = [(name, case, body) for name in sorted(EXPECTED) for case, body in _load(name).items()]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    _, _, original = draw(st.sampled_from(ALL_BODIES))
    body = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        if not path:
            body = draw(JSON_VALUES)
            continue
        parent = body
        try:
            for step in path[:-1]:
                parent = parent[step]
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "delete" and isinstance(parent, list):
            parent.pop(path[-1])
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_bodies(), as_bytes=st.booleans(), cut=st.none() | st.integers(min_value=0, max_value=4000))
def test_mutated_bodies_only_ever_raise_payload_error(body: Any, as_bytes: bool, cut: int | None) -> None:
    try:
        raw = json.dumps(body).encode()
    except ValueError:
        return
    if cut is not None:
        raw = raw[:cut]
    try:
        batch = parse_webhook(raw if as_bytes or cut is not None or not isinstance(body, dict) else body)
    except PayloadError:
        return
    for m in batch.messages:
        assert isinstance(m.wamid, str) and m.timestamp.tzinfo is UTC
    for s in batch.statuses:
        assert isinstance(s.status, str) and all(isinstance(e.code, int) for e in s.errors)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_only_ever_raise_payload_error(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parse_webhook(raw)

"""Parse a verified webhook body into typed updates.

Meta batches unrelated updates into one POST and its shapes keep growing, so the parser is
lenient per item and strict only about the envelope: one odd message becomes an
`OtherUpdate(kind="malformed")` and the rest of the batch still counts. Nothing here raises
anything but `PayloadError`, whatever the input.

Which messages open the 24-hour window (docs/rules.md R2) is decided here, in `opens_window`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wasession.domain.pricing import NO_PRICING, MessagePricing
from wasession.whatsapp.errors import CloudError, cloud_error_from
from wasession.whatsapp.pricing import pricing_of, referral_of

__all__ = [
    "ContactInfo",
    "InboundMessage",
    "OtherUpdate",
    "PayloadError",
    "StatusUpdate",
    "WebhookBatch",
    "numbers_named",
    "parse_webhook",
]


class PayloadError(ValueError):
    """The body is not a WhatsApp Business webhook we can read at all."""


@dataclass(frozen=True)
class ContactInfo:
    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str | None
    username: str | None


@dataclass(frozen=True)
class InboundMessage:
    phone_number_id: str
    wamid: str
    timestamp: datetime
    type: str
    wa_id: str | None
    user_id: str | None
    contact: ContactInfo | None
    text: str | None
    opens_window: bool
    raw: Mapping[str, Any]
    group_id: str | None
    context_wamid: str | None
    system_new_wa_id: str | None = None
    system_new_user_id: str | None = None
    referral: Mapping[str, Any] | None = None  # a Click-to-WhatsApp ad or Page button the customer came from


@dataclass(frozen=True)
class StatusUpdate:
    phone_number_id: str
    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None
    biz_opaque_callback_data: str | None
    errors: tuple[CloudError, ...]
    raw: Mapping[str, Any]
    pricing: MessagePricing = NO_PRICING  # its `pricing` and `conversation` objects (docs/rules.md R23)


@dataclass(frozen=True)
class OtherUpdate:
    field: str
    phone_number_id: str | None
    kind: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class MarketingPreference:
    """One item of a `user_preferences` webhook (docs/rules.md R24): the user stopped or resumed
    marketing messages from this business."""

    wa_id: str | None
    user_id: str | None
    stop: bool  # `value` "stop"; False for "resume"
    at: datetime


MARKETING_CATEGORY = "marketing_messages"


def marketing_preferences(update: OtherUpdate) -> list[MarketingPreference]:
    """The marketing stops and resumes a `user_preferences` update carries; items of another category,
    an unknown value or without a user are left out (they stay in the raw log)."""
    if update.field != "user_preferences":
        return []
    items = update.raw.get("user_preferences")
    found: list[MarketingPreference] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or item.get("category") != MARKETING_CATEGORY:
            continue
        value, wa_id, user_id = item.get("value"), _str(item.get("wa_id")), _str(item.get("user_id"))
        if value not in ("stop", "resume") or not (wa_id or user_id):
            continue
        try:
            at = _timestamp(item.get("timestamp"))
        except (_Malformed, ValueError, TypeError, OverflowError):
            continue
        found.append(MarketingPreference(wa_id, user_id, value == "stop", at))
    return found


@dataclass(frozen=True)
class WebhookBatch:
    messages: tuple[InboundMessage, ...]
    statuses: tuple[StatusUpdate, ...]
    others: tuple[OtherUpdate, ...]


# Inbound types that are not the user writing to the business (R2). Everything else, including
# types Meta adds in the future, counts: missing a window-opening message would make the service
# believe the window is closed while the user is waiting for an answer.
NON_OPENING_TYPES = frozenset({"reaction", "revoke", "deleted", "system"})

CALL_TYPE = "call"


class _Malformed(Exception):
    """One item of the batch is unreadable; it becomes an OtherUpdate, the batch goes on."""


def parse_webhook(body: bytes | Mapping[str, Any]) -> WebhookBatch:
    entries = _entries(_decode(body))
    out = _Collector()
    for entry in entries:
        if not isinstance(entry, Mapping):
            out.malformed("", None, {"entry": entry}, "entry is not an object")
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list):
            out.malformed("", None, entry, "entry.changes is not a list")
            continue
        for change in changes:
            _parse_change(change, out)
    return WebhookBatch(tuple(out.messages), tuple(out.statuses), tuple(out.others))


def numbers_named(data: Any) -> tuple[list[str], bool]:
    """What `parse_webhook` would address, without reading the updates: the phone_number_ids of the
    changes in order of first appearance, and whether some update would carry no number (a malformed
    entry or change, or a change without `metadata.phone_number_id`: account-level). For the ack,
    which judges the signature of every change before anything is kept."""
    entries = _entries(_decode(data))
    numbers: dict[str, None] = {}
    numberless = False
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            numberless = True
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping) or not isinstance(change.get("field"), str):
                numberless = True
                continue
            pnid = _change_number(value)
            if pnid is None:
                numberless = True
            else:
                numbers.setdefault(pnid, None)
    return list(numbers), numberless


def _entries(data: Mapping[str, Any]) -> list[Any]:
    if data.get("object") != "whatsapp_business_account":
        raise PayloadError(f"'object' is {_show(data.get('object'))}, expected 'whatsapp_business_account'")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise PayloadError(f"'entry' is {_kind(entries)}, expected a list")
    return entries


def _change_number(value: Mapping[str, Any]) -> str | None:
    """The phone_number_id every update of a change addresses."""
    metadata = value.get("metadata")
    return _str(metadata.get("phone_number_id")) if isinstance(metadata, Mapping) else None


def _decode(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, bytes | bytearray | memoryview):
        raise PayloadError(f"body is {_kind(body)}, expected bytes or a JSON object")
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"body is {_kind(data)}, expected a JSON object")
    return data


class _Collector:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.statuses: list[StatusUpdate] = []
        self.others: list[OtherUpdate] = []

    def other(self, field: str, phone_number_id: str | None, kind: str, raw: Any) -> None:
        self.others.append(OtherUpdate(field, phone_number_id, kind, _as_raw(raw)))

    def malformed(self, field: str, phone_number_id: str | None, raw: Any, reason: str) -> None:
        # The reason travels in the raw mapping, so whoever logs the update can say what was wrong.
        self.others.append(OtherUpdate(field, phone_number_id, "malformed", {"reason": reason, "item": raw}))


def _parse_change(change: Any, out: _Collector) -> None:
    if not isinstance(change, Mapping):
        out.malformed("", None, change, "change is not an object")
        return
    field = change.get("field")
    value = change.get("value")
    if not isinstance(field, str):
        out.malformed("", None, change, "change.field is not a string")
        return
    if not isinstance(value, Mapping):
        out.malformed(field, None, change, "change.value is not an object")
        return
    pnid = _change_number(value)
    before = (len(out.messages), len(out.statuses), len(out.others))
    contacts = _contacts(value.get("contacts"))

    if field == "calls":
        for call in _items(value, "calls", field, pnid, out):
            _one(out, field, pnid, call, lambda c: _call(c, field, pnid, contacts, out))
        for status in _items(value, "statuses", field, pnid, out):
            out.other(field, pnid, "call_status", status)
    else:
        for msg in _items(value, "messages", field, pnid, out):
            _one(out, field, pnid, msg, lambda m: _message(m, pnid, contacts, out))
        for status in _items(value, "statuses", field, pnid, out):
            _one(out, field, pnid, status, lambda s: _status(s, field, pnid, out))
    for echo in _items(value, "message_echoes", field, pnid, out):
        # What the business itself sent from the WhatsApp Business app: never the customer (R2).
        out.other(field, pnid, "message_echo", echo)
    for error in _items(value, "errors", field, pnid, out):
        out.other(field, pnid, "error", error)

    if (len(out.messages), len(out.statuses), len(out.others)) == before:
        # account_update, template updates, user_preferences…: one update for the whole change.
        out.other(field, pnid, field, value)


def _items(value: Mapping[str, Any], key: str, field: str, pnid: str | None, out: _Collector) -> Iterator[Any]:
    items = value.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        out.malformed(field, pnid, {key: items}, f"value.{key} is not a list")
        return
    yield from items


def _one(out: _Collector, field: str, pnid: str | None, item: Any, parse: Callable[[Any], None]) -> None:
    try:
        parse(item)
    except _Malformed as exc:
        out.malformed(field, pnid, item, str(exc))


# -- messages ------------------------------------------------------------------------------------


def _message(msg: Any, pnid: str | None, contacts: list[ContactInfo], out: _Collector) -> None:
    if not isinstance(msg, Mapping):
        raise _Malformed("message is not an object")
    if pnid is None:
        raise _Malformed("metadata.phone_number_id is missing")
    wamid = _required_str(msg, "id")
    timestamp = _timestamp(msg.get("timestamp"))
    kind = _required_str(msg, "type")
    sender = _str(msg.get("from"))
    sender_user = _str(msg.get("from_user_id"))
    contact = _match_contact(contacts, sender, sender_user)
    new_wa_id = new_user_id = None
    if kind == "system":
        system = _mapping(msg.get("system"))
        new_wa_id = _str(system.get("wa_id")) or _str(system.get("new_wa_id"))
        new_user_id = _str(system.get("user_id")) or _str(system.get("new_user_id"))
    out.messages.append(
        InboundMessage(
            phone_number_id=pnid,
            wamid=wamid,
            timestamp=timestamp,
            type=kind,
            wa_id=sender or (contact.wa_id if contact else None),
            user_id=sender_user or (contact.user_id if contact else None),
            contact=contact,
            text=_summary(kind, msg),
            opens_window=kind not in NON_OPENING_TYPES,
            raw=msg,
            group_id=_str(msg.get("group_id")),
            context_wamid=_context_wamid(kind, msg),
            system_new_wa_id=new_wa_id,
            system_new_user_id=new_user_id,
            referral=referral_of(msg),
        )
    )


def _call(call: Any, field: str, pnid: str | None, contacts: list[ContactInfo], out: _Collector) -> None:
    if not isinstance(call, Mapping):
        raise _Malformed("call is not an object")
    user_connect = call.get("event") == "connect" and call.get("direction") == "USER_INITIATED"
    if not user_connect:
        # Business-initiated calls and call progress (terminate, …) are not the user reaching out.
        event = _str(call.get("event")) or "event"
        out.other(field, pnid, f"call_{event}", call)
        return
    if pnid is None:
        raise _Malformed("metadata.phone_number_id is missing")
    call_id = _required_str(call, "id")
    timestamp = _timestamp(call.get("timestamp"))
    sender = _str(call.get("from"))
    sender_user = _str(call.get("from_user_id"))
    contact = _match_contact(contacts, sender, sender_user)
    out.messages.append(
        InboundMessage(
            phone_number_id=pnid,
            wamid=call_id,
            timestamp=timestamp,
            type=CALL_TYPE,
            wa_id=sender or (contact.wa_id if contact else None),
            user_id=sender_user or (contact.user_id if contact else None),
            contact=contact,
            text="[call]",
            opens_window=True,
            raw=call,
            group_id=None,
            context_wamid=None,
        )
    )


def _contacts(raw: Any) -> list[ContactInfo]:
    if not isinstance(raw, list):
        return []
    found = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        profile = _mapping(item.get("profile"))
        found.append(
            ContactInfo(
                wa_id=_str(item.get("wa_id")),
                user_id=_str(item.get("user_id")),
                parent_user_id=_str(item.get("parent_user_id")),
                profile_name=_str(profile.get("name")),
                username=_str(profile.get("username")),
            )
        )
    return found


def _match_contact(contacts: list[ContactInfo], wa_id: str | None, user_id: str | None) -> ContactInfo | None:
    for c in contacts:
        if (wa_id and c.wa_id == wa_id) or (user_id and c.user_id == user_id):
            return c
    # A lone contact belongs to the lone sender even when the ids disagree in form (Meta adjusts
    # some countries' prefixes); with several, a guess could attach the wrong profile.
    return contacts[0] if len(contacts) == 1 else None


def _context_wamid(kind: str, msg: Mapping[str, Any]) -> str | None:
    target = {"edit": "edit", "revoke": "revoke", "deleted": "revoke"}.get(kind)
    if target is not None:
        original = _str(_mapping(msg.get(target)).get("original_message_id"))
        if original:
            return original
    if kind == "reaction":
        reacted = _str(_mapping(msg.get("reaction")).get("message_id"))
        if reacted:
            return reacted
    return _str(_mapping(msg.get("context")).get("id"))


def _summary(kind: str, msg: Mapping[str, Any]) -> str | None:
    """The message text, or a short human label for content that has none."""
    obj = _mapping(msg.get(kind))
    if kind == "text":
        return _str(obj.get("body"))
    if kind in ("image", "video", "document", "sticker", "audio"):
        caption = _str(obj.get("caption"))
        if caption:
            return caption
        if kind == "audio" and obj.get("voice") is True:
            return "[voice message]"
        filename = _str(obj.get("filename"))
        return f"[document: {filename}]" if kind == "document" and filename else f"[{kind}]"
    if kind == "location":
        place = ", ".join(p for p in (_str(obj.get("name")), _str(obj.get("address"))) if p)
        return f"[location: {place}]" if place else "[location]"
    if kind == "contacts":
        cards = msg.get("contacts")
        names = [
            n
            for c in (cards if isinstance(cards, list) else [])
            if (n := _str(_mapping(_mapping(c).get("name")).get("formatted_name")))
        ]
        return f"[contacts: {', '.join(names)}]" if names else "[contacts]"
    if kind == "button":
        return _str(obj.get("text")) or "[button]"
    if kind == "interactive":
        return _interactive_summary(obj)
    if kind == "order":
        text = _str(obj.get("text"))
        items = obj.get("product_items")
        return text or (f"[order: {len(items)} items]" if isinstance(items, list) else "[order]")
    if kind == "reaction":
        emoji = _str(obj.get("emoji"))
        return emoji or "[reaction removed]"
    if kind == "edit":
        edited = _mapping(obj.get("message"))
        inner = _str(edited.get("type"))
        if inner and inner != "edit":
            return _summary(inner, edited)
        return "[edited message]"
    if kind in ("revoke", "deleted"):
        return "[message deleted]"
    if kind == "system":
        return _str(obj.get("body")) or "[system]"
    if kind == "request_welcome":
        return "[opened the chat]"
    if kind == "unsupported":
        inner = _str(obj.get("type"))
        return f"[unsupported: {inner}]" if inner else "[unsupported message]"
    return f"[{kind}]"


def _interactive_summary(obj: Mapping[str, Any]) -> str:
    sub = _str(obj.get("type"))
    reply = _mapping(obj.get(sub)) if sub else {}
    if sub in ("button_reply", "list_reply"):
        title = _str(reply.get("title"))
        if title:
            return title
    if sub == "nfm_reply":
        return _str(reply.get("body")) or "[form reply]"
    if sub == "call_permission_reply":
        response = _str(reply.get("response"))
        return f"[call permission: {response}]" if response else "[call permission]"
    return "[interactive]"


# -- statuses ------------------------------------------------------------------------------------


def _status(status: Any, field: str, pnid: str | None, out: _Collector) -> None:
    if not isinstance(status, Mapping):
        raise _Malformed("status is not an object")
    if status.get("type") == "call":
        out.other(field, pnid, "call_status", status)
        return
    if pnid is None:
        raise _Malformed("metadata.phone_number_id is missing")
    errors = status.get("errors")
    out.statuses.append(
        StatusUpdate(
            phone_number_id=pnid,
            wamid=_required_str(status, "id"),
            status=_required_str(status, "status").lower(),
            timestamp=_timestamp(status.get("timestamp")),
            recipient_id=_str(status.get("recipient_id")),
            recipient_user_id=_str(status.get("recipient_user_id")),
            biz_opaque_callback_data=_str(status.get("biz_opaque_callback_data")),
            errors=tuple(
                e
                for e in (
                    cloud_error_from(x) for x in (errors if isinstance(errors, list) else []) if isinstance(x, Mapping)
                )
                if e is not None
            ),
            raw=status,
            pricing=pricing_of(status),
        )
    )


# -- small typed accessors -----------------------------------------------------------------------


def _timestamp(value: Any) -> datetime:
    """Meta sends unix seconds as a string; ints are tolerated. Anything else is malformed."""
    seconds: float
    if isinstance(value, bool):
        raise _Malformed("timestamp is a boolean")
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        seconds = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        try:
            seconds = int(value.strip())
        except ValueError:
            raise _Malformed(f"timestamp {value[:40]!r} is not unix seconds") from None
    else:
        raise _Malformed(f"timestamp {_show(value)} is not unix seconds")
    if seconds < 0:
        raise _Malformed(f"timestamp {seconds} is negative")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Malformed(f"timestamp {seconds} is out of range") from None


def _required_str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"'{key}' is {_show(value)}, expected a non-empty string")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_raw(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {"value": value}


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:60])
    return _kind(value)

"""Builders for webhook bodies shaped exactly like the ones Meta sends (see
tests/data/whatsapp-webhooks), for the Simulator, the sandbox and tests."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

DEFAULT_DISPLAY_PHONE_NUMBER = "15550000000"
DEFAULT_WABA_ID = "100000000000001"


def new_wamid(phone: str | None = None) -> str:
    """A random id in the form of real ones ("wamid.HBgL…"): base64 of a small binary record
    holding the user's number and a random message key."""
    digits = (
        phone
        if phone and phone.isdigit() and len(phone) < 128
        else "".join(secrets.choice("0123456789") for _ in range(11))
    )
    key = secrets.token_hex(10).upper().encode("ascii")
    header, separator = b"\x1c\x18" + bytes([len(digits)]), b"\x15\x02\x00\x12\x18\x14"
    record = header + digits.encode("ascii") + separator + key + b"\x00"
    return "wamid." + base64.b64encode(record).decode("ascii")


def unix_seconds(moment: datetime) -> str:
    """Meta's timestamp format: whole unix seconds as a string."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive datetime would be read as local time and shift every window by the UTC offset.
        raise ValueError(f"timestamp {moment.isoformat()} has no time zone; pass an aware datetime")
    return str(int(moment.timestamp()))


def text_message_body(
    *,
    phone_number_id: str,
    wa_id: str | None,
    name: str | None,
    text: str,
    timestamp: datetime,
    wamid: str | None = None,
    user_id: str | None = None,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    waba_id: str = DEFAULT_WABA_ID,
) -> dict[str, Any]:
    """A customer's text message; `wa_id` or `user_id` (or both, as in 2026 payloads) names them."""
    if not wa_id and not user_id:
        raise ValueError("a customer message needs a wa_id or a user_id")
    contact: dict[str, Any] = {}
    if name is not None:
        contact["profile"] = {"name": name}
    if wa_id:
        contact["wa_id"] = wa_id
    if user_id:
        contact["user_id"] = user_id
    message: dict[str, Any] = {}
    if wa_id:
        message["from"] = wa_id
    if user_id:
        message["from_user_id"] = user_id
    message.update(
        id=wamid or new_wamid(wa_id),
        timestamp=unix_seconds(timestamp),
        type="text",
        text={"body": text},
    )
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
        "contacts": [contact],
        "messages": [message],
    }
    return _envelope(waba_id, value)


def status_body(
    *,
    phone_number_id: str,
    wamid: str,
    status: str,
    timestamp: datetime,
    recipient_id: str | None,
    callback_data: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    recipient_user_id: str | None = None,
    pricing: Mapping[str, Any] | None = None,
    waba_id: str = DEFAULT_WABA_ID,
    conversation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A status update for an outbound message, v24+ style: a `conversation` object only when given
    (Meta sends one only inside a free entry point window)."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": unix_seconds(timestamp)}
    if recipient_id:
        item["recipient_id"] = recipient_id
    if recipient_user_id:
        item["recipient_user_id"] = recipient_user_id
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    if conversation is not None:
        item["conversation"] = dict(conversation)
    if pricing is not None:
        item["pricing"] = dict(pricing)
    if errors:
        item["errors"] = [dict(e) for e in errors]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
        "statuses": [item],
    }
    return _envelope(waba_id, value)


def _envelope(waba_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def customer_webhook(
    phone_number_id: str, app_secret: str, *, wa_id: str, name: str, text: str, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A signed webhook body of a customer's text message, as Meta would send it."""
    body = text_message_body(
        phone_number_id=phone_number_id, wa_id=wa_id, name=name, text=text, timestamp=at, wamid=new_wamid()
    )
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(app_secret, raw)}

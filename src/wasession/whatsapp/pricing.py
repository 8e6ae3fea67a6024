"""Reading a status's `pricing` and `conversation` objects and a message's `referral`, leniently.

Every part may be missing, and values Meta adds later are kept as sent and logged once per process
(one line per field and value, not one per webhook: a new category arrives on every status).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from wasession.domain.pricing import MessagePricing, unix_expiry

log = logging.getLogger(__name__)

MAX_VALUE = 64  # longer strings are cut: the columns are short and Meta's values are words
MAX_REFERRAL_FIELD = 2000

_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()
# The records `pricing_of` made, by what it read (their records are frozen, so one may be shared).
SEEN_LIMIT = 4096
_seen: dict[tuple[str | bool | None, ...], MessagePricing] = {}


def pricing_of(status: Mapping[str, Any]) -> MessagePricing:
    pricing = _mapping(status.get("pricing"))
    conversation = _mapping(status.get("conversation"))
    billable = pricing.get("billable")
    expiration = conversation.get("expiration_timestamp")
    words = (
        _word(pricing.get("pricing_model")),
        _word(pricing.get("category")),
        _word(pricing.get("type")),
        billable if billable is True or billable is False else None,  # 1 is not True here, though 1 == True
        _word(conversation.get("id"), limit=128),
        _word(_mapping(conversation.get("origin")).get("type")),
    )
    # Keyed on what is already read (words, a bool, the expiry as sent), so equal keys make equal
    # values: nearly every status of a day carries one of a few pricing objects, and building the
    # record and checking its values again was 3.2 of the 10.2 µs a status body's parse took (1.4 µs
    # remembered).
    key = (*words, expiration) if expiration is None or isinstance(expiration, str) else None
    if key is not None and (known := _seen.get(key)) is not None:
        return known
    model, category, pricing_type, paid, conversation_id, origin_type = words
    found = MessagePricing(
        pricing_model=model,
        category=category,
        pricing_type=pricing_type,
        billable=paid,
        conversation_id=conversation_id,
        origin_type=origin_type,
        expires_at=unix_expiry(expiration),
    )
    for name, value in found.unknown_values():
        _log_once(name, value)
    if key is not None:
        if len(_seen) >= SEEN_LIMIT:  # a conversation id or an expiry in each key: start again, bounded
            _seen.clear()
        _seen[key] = found
    return found


def referral_of(message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The message's `referral` object, its text fields cut to a sane length; None without one."""
    referral = message.get("referral")
    if not isinstance(referral, Mapping) or not referral:
        return None
    kept: dict[str, Any] = {}
    for key, value in list(referral.items())[:50]:
        if isinstance(key, str) and isinstance(value, str | int | float | bool):
            kept[key[:100]] = value[:MAX_REFERRAL_FIELD] if isinstance(value, str) else value
    return kept or None


def _log_once(field: str, value: str) -> None:
    with _logged_lock:
        if (field, value) in _logged:
            return
        _logged.add((field, value))
    log.warning("status webhook has an unknown %s %r: kept as sent", field, value)


def _word(value: Any, limit: int = MAX_VALUE) -> str | None:
    if isinstance(value, str) and value:
        return value[:limit]
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}

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


def pricing_of(status: Mapping[str, Any]) -> MessagePricing:
    pricing = _mapping(status.get("pricing"))
    conversation = _mapping(status.get("conversation"))
    billable = pricing.get("billable")
    found = MessagePricing(
        pricing_model=_word(pricing.get("pricing_model")),
        category=_word(pricing.get("category")),
        pricing_type=_word(pricing.get("type")),
        billable=billable if isinstance(billable, bool) else None,
        conversation_id=_word(conversation.get("id"), limit=128),
        origin_type=_word(_mapping(conversation.get("origin")).get("type")),
        expires_at=unix_expiry(conversation.get("expiration_timestamp")),
    )
    for name, value in found.unknown_values():
        _log_once(name, value)
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

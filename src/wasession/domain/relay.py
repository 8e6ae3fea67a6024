"""Which kinds of change a webhook body carries for one phone number: what a relay target filters on.

`messages` and `statuses` both arrive in changes whose field is `messages` (a customer's message, or
the status of one we sent); `calls` is the `calls` field; `account_updates` is every other field
(account_update, message_template_status_update, phone_number_quality_update, …), which Meta sends
for the business account as a whole, so those changes name no phone number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MESSAGES = "messages"
STATUSES = "statuses"
CALLS = "calls"
ACCOUNT_UPDATES = "account_updates"
FIELDS = (MESSAGES, STATUSES, CALLS, ACCOUNT_UPDATES)


def _change_kinds(change: Mapping[str, Any], phone_number_id: str) -> set[str]:
    field = change.get("field")
    value = change.get("value")
    value = value if isinstance(value, Mapping) else {}
    metadata = value.get("metadata")
    named = metadata.get("phone_number_id") if isinstance(metadata, Mapping) else None
    if field in (MESSAGES, CALLS):
        if str(named) != phone_number_id:
            return set()
        if field == CALLS:
            return {CALLS}
        kinds = {STATUSES} if value.get("statuses") else set()
        # A change with messages, errors or nothing else recognisable is the customer side.
        if value.get("messages") or not kinds:
            kinds.add(MESSAGES)
        return kinds
    if named is not None and str(named) != phone_number_id:
        return set()  # an account-level field that does name another number
    return {ACCOUNT_UPDATES}


def kinds_for(body: bytes, phone_number_id: str) -> set[str]:
    """The kinds of change in `body` addressed to `phone_number_id` (account-level ones included);
    empty for a body that is not a WhatsApp webhook or carries nothing for it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return set()
    if not isinstance(data, Mapping) or not isinstance(data.get("entry"), list):
        return set()
    kinds: set[str] = set()
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for change in changes if isinstance(changes, list) else ():
            if isinstance(change, Mapping):
                kinds |= _change_kinds(change, phone_number_id)
    return kinds

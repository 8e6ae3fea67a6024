"""Chatwoot's account webhooks, read as lifecycle facts (issue 22): pure, no I/O.

What Chatwoot sends, as its source has it (chatwoot/chatwoot): `app/listeners/webhook_listener.rb` posts
the object's `webhook_data` merged with `event` (and `changed_attributes` for updates); a message carries
`message_type` (`incoming`/`outgoing`/`activity`/`template`), `private`, `sender` (`type` `user` for an
agent, `contact`, `agent_bot`) and `conversation` (its `webhook_data`: `id` is the display id, `status`,
`snoozed_until`, `contact_inbox.source_id`, `meta.sender`, `updated_at` as a float epoch —
`app/presenters/conversations/event_data_presenter.rb`). Signing (`lib/webhooks/trigger.rb`, v4.11.2+):
`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256 of "<X-Chatwoot-Timestamp>.<raw body>">`.

`chatwoot_update` turns a payload into one `Update`; `status_action` decides what a conversation status
means for our session. The caller applies it through `domain.transitions`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
DELIVERY_HEADER = "X-Chatwoot-Delivery"
# A signed webhook older (or newer) than this is refused: a captured body cannot be replayed later.
MAX_SKEW = timedelta(minutes=5)
# Chatwoot's snooze without a time lasts until the customer's next reply; ours needs an end, so the
# longest wasession allows stands in (a customer message wakes it either way, R20).
OPEN_ENDED_SNOOZE = timedelta(days=30)
# Marks a message wasession created in Chatwoot, so its `message_created` echo is not taken for an agent's.
OWN_MARK = "wasession_message_id"
# The conversation custom attributes wasession keeps current.
ATTRIBUTES = ("wasession_window_closes_at", "wasession_closes_at", "wasession_next_reminder_at")


def placeholder_wamid(connection_id: int, chatwoot_message_id: object) -> str:
    """What a message created through Chatwoot holds as its wamid until Chatwoot reports the real one."""
    return f"chatwoot:{connection_id}:{chatwoot_message_id}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Chatwoot-Signature` Chatwoot sends for `body` at `timestamp` (unix seconds, as text)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def signature_problem(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, now: datetime
) -> str | None:
    """Why a webhook is not Chatwoot's (None: it is): a missing or malformed header, a stale or future
    timestamp, or a signature that does not match. Compared in constant time."""
    if not signature or not timestamp:
        return f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return f"{TIMESTAMP_HEADER} is not a unix time"
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > MAX_SKEW:
        return f"{TIMESTAMP_HEADER} is more than 5 minutes from now (a stale or replayed webhook)"
    expected = sign(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", errors="replace")):
        return f"{SIGNATURE_HEADER} does not match the body"
    return None


class Kind(StrEnum):
    AGENT_MESSAGE = "agent_message"  # an agent's public outgoing message
    STATUS = "status"  # a conversation's status, from a status change or an update
    MAPPING = "mapping"  # nothing to do but learn which contact the conversation is
    OWN_SENT = "own_sent"  # Chatwoot sent a message wasession created: its wamid, for Meta's statuses
    IGNORED = "ignored"


@dataclass(frozen=True)
class Update:
    kind: Kind
    event: str
    account_id: int | None
    inbox_id: int | None
    conversation_id: int | None
    source_id: str | None  # the contact inbox's source id: the wa_id, or the BSUID
    status: str | None = None  # open | resolved | pending | snoozed
    snoozed_until: datetime | None = None
    message_id: int | None = None
    content: str = ""
    at: datetime | None = None  # when Chatwoot says it happened
    why_ignored: str = ""
    wamid: str | None = None  # the message's own `source_id` once Chatwoot sent it to WhatsApp


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    """Chatwoot writes times as unix numbers in webhook_data and as ISO text in some message payloads."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _source_id(conversation: dict[str, Any]) -> str | None:
    inbox = conversation.get("contact_inbox")
    source = inbox.get("source_id") if isinstance(inbox, dict) else None
    return source.lstrip("+") if isinstance(source, str) and source.strip() else None


def _account_id(payload: dict[str, Any], conversation: dict[str, Any]) -> int | None:
    account = payload.get("account")
    found = _int(account.get("id")) if isinstance(account, dict) else None
    return found if found is not None else _int(conversation.get("account_id"))


def chatwoot_update(payload: Any) -> Update:
    """What one account webhook means for us; anything we do not act on is IGNORED with the reason."""
    if not isinstance(payload, dict):
        return Update(Kind.IGNORED, "", None, None, None, None, why_ignored="not a JSON object")
    event = str(payload.get("event") or "")
    attributes = payload.get("content_attributes")
    if event == "message_updated" and isinstance(attributes, dict) and OWN_MARK in attributes:
        raw_conv = payload.get("conversation")
        conv: dict[str, Any] = raw_conv if isinstance(raw_conv, dict) else {}
        wamid = payload.get("source_id")
        inbox = payload.get("inbox")
        return Update(
            Kind.OWN_SENT,
            event,
            _account_id(payload, conv),
            _int(inbox.get("id")) if isinstance(inbox, dict) else _int(conv.get("inbox_id")),
            _int(conv.get("id")),
            _source_id(conv),
            message_id=_int(payload.get("id")),
            wamid=wamid if isinstance(wamid, str) and wamid.startswith("wamid.") else None,
        )
    if event == "message_created":
        raw = payload.get("conversation")
        conversation: dict[str, Any] = raw if isinstance(raw, dict) else {}
        inbox = payload.get("inbox")
        inbox_id = _int(inbox.get("id")) if isinstance(inbox, dict) else _int(conversation.get("inbox_id"))
        base = {
            "event": event,
            "account_id": _account_id(payload, conversation),
            "inbox_id": inbox_id,
            "conversation_id": _int(conversation.get("id")),
            "source_id": _source_id(conversation),
        }
        sender = payload.get("sender")
        sender_type = sender.get("type") if isinstance(sender, dict) else None
        why = ""
        if payload.get("message_type") not in ("outgoing", 1):
            why = "not an outgoing message"
        elif payload.get("private"):
            why = "a private note"
        elif sender_type != "user":
            why = f"not from an agent (sender type {sender_type!r})"
        elif isinstance(attributes, dict) and OWN_MARK in attributes:
            why = "a message wasession created"
        if why:
            return Update(Kind.MAPPING, why_ignored=why, **base)  # type: ignore[arg-type]
        return Update(
            Kind.AGENT_MESSAGE,
            message_id=_int(payload.get("id")),
            content=str(payload.get("content") or ""),
            at=_time(payload.get("created_at")),
            **base,  # type: ignore[arg-type]
        )
    if event in ("conversation_status_changed", "conversation_updated", "conversation_created"):
        status = payload.get("status")
        return Update(
            Kind.STATUS if event != "conversation_created" else Kind.MAPPING,
            event,
            _account_id(payload, payload),
            _int(payload.get("inbox_id")),
            _int(payload.get("id")),
            _source_id(payload),
            status=status if isinstance(status, str) else None,
            snoozed_until=_time(payload.get("snoozed_until")),
            at=_time(payload.get("updated_at")) or _time(payload.get("timestamp")),
        )
    return Update(Kind.IGNORED, event, None, None, None, None, why_ignored=f"event {event!r} is not used")


class StatusAction(StrEnum):
    CLOSE = "close"
    SNOOZE = "snooze"
    WAKE = "wake"
    NOTHING = "nothing"


def status_action(
    status: str | None,
    *,
    active: bool,
    snoozed: bool,
    changed_at: datetime | None,
    last_customer_at: datetime,
) -> StatusAction:
    """What Chatwoot's status means for our session, idempotently: a status the session already has
    does nothing, so a replay, Chatwoot's echo of our own resolve and `conversation_updated` repeating a
    status change are all harmless. A resolve or snooze made before the customer's latest message is
    stale (Chatwoot reopens on an incoming message): it does nothing either."""
    if not active:
        return StatusAction.NOTHING
    stale = changed_at is not None and changed_at < last_customer_at
    if status == "resolved" and not stale:
        return StatusAction.CLOSE
    if status == "snoozed" and not snoozed and not stale:
        return StatusAction.SNOOZE
    if status == "open" and snoozed:
        return StatusAction.WAKE
    return StatusAction.NOTHING


def snooze_end(snoozed_until: datetime | None, now: datetime) -> datetime:
    """The end of our snooze for Chatwoot's: its time when it has a future one, else the open-ended one."""
    if snoozed_until is not None and now < snoozed_until <= now + OPEN_ENDED_SNOOZE:
        return snoozed_until
    return now + OPEN_ENDED_SNOOZE


def attributes(
    *, window_closes_at: datetime | None, closes_at: datetime | None, next_reminder_at: datetime | None
) -> dict[str, str | None]:
    """The conversation custom attributes for a session's plan (ISO 8601 UTC; None clears one)."""
    values = (window_closes_at, closes_at, next_reminder_at)
    return {name: (v.astimezone(UTC).isoformat() if v else None) for name, v in zip(ATTRIBUTES, values, strict=True)}

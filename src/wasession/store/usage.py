"""A channel's outbound messages counted over an interval: our own record and what Meta priced (R23)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, select, text

from wasession.domain.events import EventType
from wasession.domain.pricing import AUTOMATED_KINDS, MONTHLY_CAP, MessagePricing
from wasession.domain.states import Direction, MessageStatus
from wasession.store.schema import AUTOMATED_SQL, contacts, events, message_pricing, messages, sessions

# Enough digits for the longest calling-code prefix a rate card may name (domain/rates.py).
MARKET_DIGITS = 6

# Sends that did not reach Meta: never sent (skipped) or refused (failed). Everything else counts for
# the cap, in flight included, so a burst queued before any answer cannot overshoot it.
NOT_SENT = (MessageStatus.SKIPPED, MessageStatus.FAILED)


@dataclass(frozen=True)
class PricedCount:
    kind: str
    category: str | None
    pricing_type: str | None
    count: int


def _outbound(channel_id: int, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(
        messages.c.channel_id == channel_id,
        messages.c.direction == Direction.OUT,
        messages.c.sent_at >= start,
        messages.c.sent_at < end,
    )


def automated_count(conn: Connection, channel_id: int, start: datetime, end: datetime) -> int:
    """Automated sends of the channel created in [start, end) that went, or are going, to Meta."""
    query = select(func.count()).where(
        _outbound(channel_id, start, end),
        text(AUTOMATED_SQL),  # the partial index's own predicate (store/schema.py)
        messages.c.status.not_in(NOT_SENT),
    )
    return int(conn.execute(query).scalar_one())


def sent_counts(conn: Connection, channel_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Outbound messages by kind, as we recorded them (not skipped or failed)."""
    query = (
        select(messages.c.kind, func.count())
        .where(_outbound(channel_id, start, end), messages.c.status.not_in(NOT_SENT))
        .group_by(messages.c.kind)
    )
    return {kind: int(n) for kind, n in conn.execute(query)}


def priced_counts(conn: Connection, channel_id: int, start: datetime, end: datetime) -> list[PricedCount]:
    """Outbound messages by kind and by the category and type Meta's statuses gave them."""
    query = (
        select(messages.c.kind, message_pricing.c.category, message_pricing.c.pricing_type, func.count())
        .select_from(messages.join(message_pricing, message_pricing.c.message_id == messages.c.id))
        .where(_outbound(channel_id, start, end))
        .group_by(messages.c.kind, message_pricing.c.category, message_pricing.c.pricing_type)
    )
    return [PricedCount(kind, category, ptype, int(n)) for kind, category, ptype, n in conn.execute(query)]


@dataclass(frozen=True)
class BilledCount:
    """Messages Meta said were billable, by kind, category and type, and by the first digits of the
    recipient's phone number (None: the contact is known only by a BSUID, so its market is unknown)."""

    kind: str
    category: str | None
    pricing_type: str | None
    number_prefix: str | None
    count: int


def billable() -> ColumnElement[bool]:
    """What Meta said is charged: `type: regular`, or the deprecated `billable: true` when a status
    carries no type."""
    c = message_pricing.c
    return (c.pricing_type == "regular") | (c.pricing_type.is_(None) & c.billable.is_(True))


def billed_counts(conn: Connection, channel_id: int, start: datetime, end: datetime) -> list[BilledCount]:
    prefix = func.substr(contacts.c.wa_id, 1, MARKET_DIGITS)
    query = (
        select(messages.c.kind, message_pricing.c.category, message_pricing.c.pricing_type, prefix, func.count())
        .select_from(
            messages.join(message_pricing, message_pricing.c.message_id == messages.c.id)
            .join(sessions, sessions.c.id == messages.c.session_id)
            .join(contacts, contacts.c.id == sessions.c.contact_id)
        )
        .where(_outbound(channel_id, start, end), billable())
        .group_by(messages.c.kind, message_pricing.c.category, message_pricing.c.pricing_type, prefix)
    )
    return [BilledCount(kind, cat, ptype, pre, int(n)) for kind, cat, ptype, pre, n in conn.execute(query)]


@dataclass(frozen=True)
class AutomatedSpend:
    """Automated sends of a month that went, or are going, to Meta, by what Meta said of their price
    (`charged` None: no status priced them yet) and the first digits of the recipient's number."""

    category: str | None
    charged: bool | None
    number_prefix: str | None
    count: int


def automated_spend(conn: Connection, channel_id: int, start: datetime, end: datetime) -> list[AutomatedSpend]:
    c = message_pricing.c
    prefix = func.substr(contacts.c.wa_id, 1, MARKET_DIGITS)
    query = (
        select(c.category, c.pricing_type, c.billable, prefix, func.count())
        .select_from(
            messages.outerjoin(message_pricing, c.message_id == messages.c.id)
            .join(sessions, sessions.c.id == messages.c.session_id)
            .join(contacts, contacts.c.id == sessions.c.contact_id)
        )
        .where(
            _outbound(channel_id, start, end),
            messages.c.kind.in_(sorted(AUTOMATED_KINDS)),
            messages.c.status.not_in(NOT_SENT),
        )
        .group_by(c.category, c.pricing_type, c.billable, prefix)
    )
    out = []
    for category, pricing_type, is_billable, pre, n in conn.execute(query):
        priced = MessagePricing(category=category, pricing_type=pricing_type, billable=is_billable)
        out.append(AutomatedSpend(category, priced.charged if category is not None else None, pre, int(n)))
    return out


def chats_opened(conn: Connection, channel_id: int, start: datetime, end: datetime) -> dict[str | None, int]:
    """Sessions opened in [start, end) by the first digits of the customer's number (None: BSUID only)."""
    prefix = func.substr(contacts.c.wa_id, 1, MARKET_DIGITS)
    query = (
        select(prefix, func.count())
        .select_from(sessions.join(contacts, contacts.c.id == sessions.c.contact_id))
        .where(sessions.c.channel_id == channel_id, sessions.c.opened_at >= start, sessions.c.opened_at < end)
        .group_by(prefix)
    )
    return {pre: int(n) for pre, n in conn.execute(query)}


def skipped_counts(conn: Connection, channel_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Automated sends skipped in [start, end) by reason, from their timeline events."""
    query = select(events.c.data).where(
        events.c.channel_id == channel_id,
        events.c.type.in_([EventType.REMINDER_SKIPPED, EventType.CLOSING_MESSAGE_SKIPPED]),
        events.c.at >= start,
        events.c.at < end,
    )
    counts: dict[str, int] = {}
    for (data,) in conn.execute(query):
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            counts[data["reason"]] = counts.get(data["reason"], 0) + 1
    return counts


def capped_count(conn: Connection, channel_id: int, start: datetime, end: datetime) -> int:
    """Automated sends the monthly cap skipped in [start, end), from their timeline events."""
    query = select(events.c.data).where(
        events.c.channel_id == channel_id,
        events.c.type.in_([EventType.REMINDER_SKIPPED]),
        events.c.at >= start,
        events.c.at < end,
    )
    return sum(1 for (data,) in conn.execute(query) if isinstance(data, dict) and data.get("reason") == MONTHLY_CAP)

"""What a status webhook says about price and window, and a customer's referral, kept (docs/rules.md R23).

Two calls for the applier, one per status and one per stored customer message, so the batched apply
path can make the same calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from wasession.domain.events import EventType
from wasession.domain.pricing import AUTOMATED_KINDS, MessagePricing, merge, status_order
from wasession.domain.rates import estimate
from wasession.lifecycle import writes as session_ops
from wasession.observability import usage_metrics
from wasession.store import pricing as pricing_store
from wasession.store import rates as rate_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.messages import MessageRow, MessageState
from wasession.store.pricing import StoredPricing
from wasession.whatsapp.payload import InboundMessage, StatusUpdate

Record = Callable[..., Any]  # (channel, session_id, event type, at, **data): an event in this transaction


def record_status(
    conn: Connection,
    channel: Channel,
    message: MessageRow | MessageState,
    status: StatusUpdate,
    now: datetime,
    known: dict[int, StoredPricing | None] | None = None,
    record: Record | None = None,
) -> None:
    """Merge the status's pricing and conversation into the message's; a status carrying none, a
    duplicate, or an older one arriving late, loses nothing already known. The batched apply path
    passes `known`, what is stored for the batch's sends (read in one query, kept current here), and
    `record`, which adds an event where its other events go, so the event ids come in the same order
    as when the statuses are applied one by one."""
    new = status.pricing
    if new.empty:
        return
    stored = known[message.id] if known is not None and message.id in known else pricing_store.get(conn, message.id)
    order, stored_order = status_order(status.status), (stored.status_order if stored else 0)
    before = stored.pricing if stored else MessagePricing()
    merged = merge(before, stored_order, new, order)
    if stored is not None and merged == before and order <= stored_order:
        return  # a duplicate, or an older status with nothing new
    pricing_store.save(
        conn,
        message_id=message.id,
        channel_id=channel.id,
        session_id=message.session_id,
        pricing=merged,
        status_order=max(order, stored_order),
        exists=stored is not None,
        now=now,
    )
    if known is not None:
        known[message.id] = StoredPricing(merged, max(order, stored_order))
    if before.category is None and merged.category is not None:
        usage_metrics.priced(merged.category, merged.pricing_type, message.kind in AUTOMATED_KINDS)
    if merged.charged and not before.charged:
        _count_cost(conn, channel, message, merged)
    if (
        merged.free_entry_point
        and not before.free_entry_point
        and not pricing_store.free_window_seen(conn, message.session_id, merged.conversation_id, message.id)
    ):
        (record or functools.partial(session_ops.record, conn))(
            channel,
            message.session_id,
            EventType.FREE_WINDOW_OPENED,
            status.timestamp,
            wamid=message.wamid,
            message_id=message.id,
            conversation_id=merged.conversation_id,
            origin_type=merged.origin_type,
            pricing_type=merged.pricing_type,
            expires_at=merged.expires_at,
        )


def _count_cost(conn: Connection, channel: Channel, message: MessageRow | MessageState, merged: MessagePricing) -> None:
    """Prometheus's estimated cost, counted once per message, when a status first says it is billable."""
    card = rate_store.get(conn, channel.workspace_id)
    if card is None:
        return
    cost = estimate(card, rate_store.recipient_number(conn, message.session_id), merged.category, 1)
    if cost.priced:
        usage_metrics.cost(card.currency, merged.category, message.kind in AUTOMATED_KINDS, float(cost.amount))
    else:
        usage_metrics.unpriced("unknown_market" if cost.unknown_market else "no_rate")


def record_referral(conn: Connection, session_id: int, msg: InboundMessage, now: datetime) -> None:
    """Keep the ad or Page button the customer came from: the session's first one only."""
    if msg.referral is not None:
        pricing_store.add_referral(conn, session_id, msg.wamid, msg.referral, now)

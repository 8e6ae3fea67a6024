"""What a status webhook says about price and window, and a customer's referral, kept (docs/rules.md R23).

Two calls for the apply path, one per status and one per stored customer message, and the batch's
estimated costs (`Costs`), counted when the batch is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from wasession.domain.events import EventType
from wasession.domain.pricing import AUTOMATED_KINDS, MessagePricing, merge, status_order
from wasession.domain.rates import RateCard, estimate
from wasession.observability import usage_metrics
from wasession.store import pricing as pricing_store
from wasession.store import rates as rate_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.messages import MessageState
from wasession.store.pricing import PricingSaves, StoredPricing
from wasession.whatsapp.payload import InboundMessage, StatusUpdate

Record = Callable[..., Any]  # (channel, session_id, event type, at, **data): an event in this transaction


def record_status(
    conn: Connection,
    channel: Channel,
    message: MessageState,
    status: StatusUpdate,
    now: datetime,
    known: dict[int, StoredPricing | None],
    saves: PricingSaves,
    record: Record,
    costs: Costs,
) -> None:
    """Merge the status's pricing and conversation into the message's; a status carrying none, a
    duplicate, or an older one arriving late, loses nothing already known. `known` is what is stored
    for the batch's sends (read in one query, kept current here), `saves` gathers what to write
    (written with the batch), and `record` adds an event where the batch's other events go, so the
    event ids come in the same order as when the statuses are applied one batch each. `costs` gathers
    the messages whose cost Prometheus counts, estimated for the whole batch when it is written."""
    new = status.pricing
    if new.empty:
        return
    stored = known[message.id] if message.id in known else pricing_store.get(conn, message.id)
    order, stored_order = status_order(status.status), (stored.status_order if stored else 0)
    before = stored.pricing if stored else MessagePricing()
    merged = merge(before, stored_order, new, order)
    if stored is not None and merged == before and order <= stored_order:
        return  # a duplicate, or an older status with nothing new
    saves.add(
        message_id=message.id,
        channel_id=channel.id,
        session_id=message.session_id,
        pricing=merged,
        status_order=max(order, stored_order),
        exists=stored is not None,
        now=now,
    )
    known[message.id] = StoredPricing(merged, max(order, stored_order))
    if before.category is None and merged.category is not None:
        usage_metrics.priced(merged.category, merged.pricing_type, message.kind in AUTOMATED_KINDS)
    if merged.charged and not before.charged:
        costs.add(channel, message, merged)
    if merged.free_entry_point and not before.free_entry_point:
        saves.flush(conn)  # the look below reads what the batch saved so far
        if pricing_store.free_window_seen(conn, message.session_id, merged.conversation_id, message.id):
            return
        record(
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


class Costs:
    """Prometheus's estimated cost of the messages a batch's statuses first said are billed, each
    counted once: estimated when the batch is written (`count`), the rate card read once a workspace
    and the recipients' numbers in one query, not one a message (a query each was about half of
    what applying a billed status cost, `bench/apply_cost.py`)."""

    def __init__(self) -> None:
        self._cards: dict[int, RateCard | None] = {}  # by workspace, read once a batch
        self._waiting: list[tuple[Channel, MessageState, MessagePricing]] = []

    def add(self, channel: Channel, message: MessageState, merged: MessagePricing) -> None:
        self._waiting.append((channel, message, merged))

    def count(self, conn: Connection) -> None:
        waiting, self._waiting = self._waiting, []
        priced: list[tuple[RateCard, MessageState, MessagePricing]] = []
        for channel, message, merged in waiting:
            if channel.workspace_id not in self._cards:
                self._cards[channel.workspace_id] = rate_store.get(conn, channel.workspace_id)
            card = self._cards[channel.workspace_id]
            if card is not None:
                priced.append((card, message, merged))
        if not priced:
            return
        numbers = rate_store.recipient_numbers(conn, (message.session_id for _, message, _ in priced))
        for card, message, merged in priced:
            cost = estimate(card, numbers.get(message.session_id), merged.category, 1)
            if cost.priced:
                automated = message.kind in AUTOMATED_KINDS
                usage_metrics.cost(card.currency, merged.category, automated, float(cost.amount))
            else:
                usage_metrics.unpriced("unknown_market" if cost.unknown_market else "no_rate")


def record_referral(conn: Connection, session_id: int, msg: InboundMessage, now: datetime) -> None:
    """Keep the ad or Page button the customer came from: the session's first one only."""
    if msg.referral is not None:
        pricing_store.add_referral(conn, session_id, msg.wamid, msg.referral, now)

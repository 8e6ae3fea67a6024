"""The automated-send cap's count and the budget's spending, read once per channel per claimed batch
(docs/rules.md R23)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from wasession.domain.pricing import current_month_bounds, marketing_skip_reason, monthly_budget_reason
from wasession.domain.rates import AUTOMATED_SEND_CATEGORY, RateCard, spent
from wasession.store import marketing as marketing_store
from wasession.store import rates as rate_store
from wasession.store import templates as template_store
from wasession.store import usage as usage_store
from wasession.store.channels import Channel
from wasession.store.db import Connection


class AutomatedCounts:
    """Each capped channel's automated sends this calendar month (its time zone), counted up as the
    batch queues more: the queued rows are in the transaction already, but reading once is cheaper."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._spent: dict[int, tuple[RateCard, Decimal] | None] = {}
        self._pending: dict[int, Decimal] = {}

    def for_channel(self, conn: Connection, channel: Channel, now: datetime) -> int | None:
        """None when the channel has no cap: nothing is counted then."""
        if channel.policy.automated_monthly_cap is None:
            return None
        if channel.id not in self._counts:
            start, end = current_month_bounds(now, channel.policy.timezone)
            self._counts[channel.id] = usage_store.automated_count(conn, channel.id, start, end)
        return self._counts[channel.id]

    def over_budget(
        self, conn: Connection, channel: Channel, recipient: Callable[[], str | None], now: datetime
    ) -> bool:
        """Whether an automated send to this customer, estimated by the workspace's rate card, would take
        the channel's automated spending this month past `automated_monthly_budget` (R23). `recipient`:
        the customer's phone number (None when only a BSUID is known), asked only when it is needed, from
        the batch's contacts. Without a budget or a card nothing is read and nothing is held back."""
        budget = channel.policy.automated_monthly_budget
        if budget is None:
            return False
        if channel.id not in self._spent:
            card = rate_store.get(conn, channel.workspace_id)
            if card is None:
                self._spent[channel.id] = None
            else:
                start, end = current_month_bounds(now, channel.policy.timezone)
                rows = usage_store.automated_spend(conn, channel.id, start, end)
                self._spent[channel.id] = (
                    card,
                    spent(card, [(r.category, r.charged, r.number_prefix, r.count) for r in rows]),
                )
        known = self._spent[channel.id]
        if known is None:
            return False
        card, so_far = known
        cost = card.price(recipient(), AUTOMATED_SEND_CATEGORY)
        self._pending[channel.id] = cost or Decimal(0)
        return monthly_budget_reason(budget, so_far, cost) is not None

    def queued(self, channel_id: int) -> None:
        if channel_id in self._counts:
            self._counts[channel_id] += 1
        known = self._spent.get(channel_id)
        if known is not None:
            self._spent[channel_id] = (known[0], known[1] + self._pending.pop(channel_id, Decimal(0)))


def closing_template_blocked(conn: Connection, channel: Channel, contact_id: int, now: datetime) -> str | None:
    """R24 for the one automated template send, the closing template: its category comes from the
    channel's fetched templates; None when there is no closing template or nothing holds it back."""
    ref = channel.policy.closing_template
    if ref is None:
        return None
    listed = [t for t in template_store.for_channel(conn, channel.id) if t.name == ref.name]
    match = [t for t in listed if t.language == ref.language] or listed
    if not match:
        return None
    state = marketing_store.get(conn, contact_id)
    if state is None:
        return None
    return marketing_skip_reason(match[0].category, state.opted_out_at is not None, state.deferred_until, now)

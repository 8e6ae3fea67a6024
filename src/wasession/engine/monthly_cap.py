"""The automated-send cap's count, read once per channel per claimed batch (docs/rules.md R23)."""

from __future__ import annotations

from datetime import datetime

from wasession.domain.pricing import current_month_bounds
from wasession.store import usage as usage_store
from wasession.store.channels import Channel
from wasession.store.db import Connection


class AutomatedCounts:
    """Each capped channel's automated sends this calendar month (its time zone), counted up as the
    batch queues more: the queued rows are in the transaction already, but reading once is cheaper."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}

    def for_channel(self, conn: Connection, channel: Channel, now: datetime) -> int | None:
        """None when the channel has no cap: nothing is counted then."""
        if channel.policy.automated_monthly_cap is None:
            return None
        if channel.id not in self._counts:
            start, end = current_month_bounds(now, channel.policy.timezone)
            self._counts[channel.id] = usage_store.automated_count(conn, channel.id, start, end)
        return self._counts[channel.id]

    def queued(self, channel_id: int) -> None:
        if channel_id in self._counts:
            self._counts[channel_id] += 1

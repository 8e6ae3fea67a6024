"""Prometheus counters of what Meta priced and what the monthly cap held back (docs/rules.md R23)."""

from __future__ import annotations

import functools

from prometheus_client import Counter

from wasession.domain.pricing import KNOWN_CATEGORIES, KNOWN_PRICING_TYPES

PRICED = Counter(
    "wasession_outbound_priced",
    "Outbound messages by the category and pricing type Meta's statuses reported, automated or human",
    ["category", "type", "sender"],
)
ESTIMATED_COST = Counter(
    "wasession_estimated_cost",
    "What billable outbound messages cost by the workspace's rate card, in its currency",
    ["currency", "category", "sender"],
)
UNPRICED = Counter(
    "wasession_billable_unpriced",
    "Billable outbound messages the rate card could not price: unknown_market (a BSUID-only recipient), "
    "no_rate (the card has no rate for the market and category)",
    ["reason"],
)
CAPPED = Counter("wasession_automated_capped", "Automated sends skipped by automated_monthly_cap", ["kind"])

_priced = functools.cache(PRICED.labels)


def priced(category: str | None, pricing_type: str | None, automated: bool) -> None:
    # Meta's new values would each add a series: they count as `other` here and stay exact in usage.
    label_category = category if category in KNOWN_CATEGORIES else ("none" if category is None else "other")
    label_type = pricing_type if pricing_type in KNOWN_PRICING_TYPES else ("none" if pricing_type is None else "other")
    _priced(label_category, label_type, "automated" if automated else "human").inc()


def cost(currency: str, category: str | None, automated: bool, amount: float) -> None:
    label = category if category in KNOWN_CATEGORIES else ("none" if category is None else "other")
    ESTIMATED_COST.labels(currency, label, "automated" if automated else "human").inc(amount)


def unpriced(reason: str) -> None:
    UNPRICED.labels(reason).inc()


def capped(kind: str) -> None:
    CAPPED.labels(kind).inc()

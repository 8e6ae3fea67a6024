"""What Meta says a message cost and which window it fell in, and the automated-send cap (docs/rules.md R23).

Meta's status webhooks carry a `pricing` object (on `sent` and one of `delivered`/`read`) and, inside a
free entry point window, a `conversation` object (its expiry only on `sent`). They arrive duplicated
and out of order, so one message's facts are merged here: a status that carries nothing erases
nothing, and a field already written by a later status is only filled, never overwritten, by an
earlier one. Unknown values are kept as Meta sent them: prices and categories change faster than code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from wasession.domain.records import evolve

# The values Meta documents today; anything else is logged once and stored as sent.
KNOWN_PRICING_MODELS = frozenset({"PMP", "CBP"})
KNOWN_PRICING_TYPES = frozenset({"regular", "free_customer_service", "free_entry_point"})
KNOWN_CATEGORIES = frozenset(
    {
        "authentication",
        "authentication-international",
        "authentication_international",
        "marketing",
        "marketing_lite",
        "utility",
        "service",
        "referral_conversion",
    }
)
KNOWN_VALUES: dict[str, frozenset[str]] = {
    "pricing_model": KNOWN_PRICING_MODELS,
    "pricing_type": KNOWN_PRICING_TYPES,
    "category": KNOWN_CATEGORIES,
    "origin_type": KNOWN_CATEGORIES,
}

FREE_ENTRY_POINT = "free_entry_point"
REFERRAL_CONVERSION = "referral_conversion"

# Outbound kinds the service sends on its own (reminders; closing messages once they exist): what the
# monthly cap limits and what usage calls "automated". Everything else an agent (or the API) sent.
AUTOMATED_KINDS = frozenset({"reminder", "closing"})
MONTHLY_CAP = "monthly_cap"
MONTHLY_BUDGET = "monthly_budget"

# Order of the statuses that may carry pricing; a fact from a higher one wins over a lower one's.
_STATUS_ORDER = {"sent": 1, "delivered": 2, "read": 3, "played": 3}


def status_order(status: str) -> int:
    return _STATUS_ORDER.get(status, 0)


@dataclass(frozen=True)
class MessagePricing:
    """One outbound message's pricing and conversation facts, each None until a status says it."""

    pricing_model: str | None = None
    category: str | None = None
    pricing_type: str | None = None
    billable: bool | None = None
    conversation_id: str | None = None
    origin_type: str | None = None
    expires_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return self == NO_PRICING  # every status asks: one tuple comparison, not a walk over `fields`

    @property
    def charged(self) -> bool:
        """What Meta said is billed: `type: regular`, or the deprecated `billable: true` when no status
        gave a type (store/usage.py::billable says the same in SQL)."""
        return self.pricing_type == "regular" or (self.pricing_type is None and self.billable is True)

    @property
    def free_entry_point(self) -> bool:
        return self.pricing_type == FREE_ENTRY_POINT or self.origin_type == REFERRAL_CONVERSION

    def unknown_values(self) -> list[tuple[str, str]]:
        return [
            (name, value)
            for name, known in KNOWN_VALUES.items()
            if (value := getattr(self, name)) is not None and value not in known
        ]


NO_PRICING = MessagePricing()
PRICING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MessagePricing))


def merge(stored: MessagePricing, stored_order: int, new: MessagePricing, new_order: int) -> MessagePricing:
    """`stored` (written by a status of order `stored_order`) with what `new` adds. A field `new` lacks
    keeps its value (a `delivered` without pricing erases nothing); a field both have takes `new`'s only
    if `new` is at least as late a status, so a `sent` arriving after `read` fills gaps (the expiry,
    which only `sent` carries) but does not overwrite."""
    changes = {}
    for name in PRICING_FIELDS:
        value = getattr(new, name)
        if value is None:
            continue
        if getattr(stored, name) is None or new_order >= stored_order:
            changes[name] = value
    return evolve(stored, **changes) if changes else stored


# -- calendar months in the channel's time zone --------------------------------------------------------


def month_of(moment: datetime, timezone: str) -> str:
    """'YYYY-MM' of `moment` on the channel's wall clock."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The instants [start, end) of calendar month 'YYYY-MM' in `timezone`; ValueError if malformed."""
    if len(month) != 7 or not month.isascii() or month[4] != "-" or not (month[:4].isdigit() and month[5:].isdigit()):
        raise ValueError(f"month must be YYYY-MM, like 2026-03; got {month!r}")
    year, number = int(month[:4]), int(month[5:])
    if not 1 <= number <= 12 or year < 1970 or year > 9998:
        raise ValueError(f"month must be YYYY-MM with a month from 01 to 12 (years 1970-9998); got {month!r}")
    zone = ZoneInfo(timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def current_month_bounds(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    return month_bounds(month_of(now, timezone), timezone)


# -- the cap ---------------------------------------------------------------------------------------------


def monthly_cap_reason(cap: int | None, automated_this_month: int) -> str | None:
    """`monthly_cap` when `automated_this_month` automated sends already use up the cap, else None."""
    if cap is not None and automated_this_month >= cap:
        return MONTHLY_CAP
    return None


def monthly_budget_reason(budget: Decimal | None, spent: Decimal, cost: Decimal | None) -> str | None:
    """`monthly_budget` when a send estimated at `cost` would take the month's automated spending past
    `budget`. A send the rate card cannot price (no card, a BSUID-only recipient, a market without a
    rate) is not held back: the budget only stops what it can see."""
    if budget is None or cost is None:
        return None
    return MONTHLY_BUDGET if spent + cost > budget else None


MARKETING_OPT_OUT = "marketing_opt_out"
MARKETING_DEFERRED = "marketing_deferred"


def marketing_skip_reason(
    category: str | None, opted_out: bool, deferred_until: datetime | None, now: datetime
) -> str | None:
    """R24: an automated send of a marketing template to a contact who stopped marketing messages is
    skipped until they resume; one while Meta's per-user marketing limit (131049) holds is skipped until
    24 h have passed. Other categories, and free-form messages, are never held back here."""
    if category is None or category.lower() != "marketing":
        return None
    if opted_out:
        return MARKETING_OPT_OUT
    if deferred_until is not None and now < deferred_until:
        return MARKETING_DEFERRED
    return None


def unix_expiry(value: object) -> datetime | None:
    """Meta's `expiration_timestamp` (unix seconds as a string) as an instant, or None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=value)
    except OverflowError:
        return None

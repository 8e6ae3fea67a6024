"""A channel's usage in one calendar month of its time zone (docs/rules.md R23): one function for the
API, the dashboard and the Simulator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from wasession.domain.policy import Policy
from wasession.domain.pricing import AUTOMATED_KINDS, MONTHLY_BUDGET, current_month_bounds, month_bounds, month_of
from wasession.domain.rates import AUTOMATED_SEND_CATEGORY, Estimate, Money, RateCard, estimate
from wasession.lifecycle.context import ServiceContext
from wasession.services import policy_impact
from wasession.services.channels import get_channel
from wasession.services.errors import ValidationError
from wasession.store import pricing as pricing_store
from wasession.store import rates as rate_store
from wasession.store import usage as usage_store
from wasession.store.channels import Channel
from wasession.store.pricing import FreeWindow, Referral


@dataclass(frozen=True)
class PricedLine:
    """Outbound messages Meta priced with this category and type (None: its statuses did not say)."""

    category: str | None
    type: str | None
    automated: int
    human: int
    # By the workspace's rate card, from the messages of this line Meta said were billable; None
    # without a card. `cost.unknown_market` counts recipients known only by a BSUID.
    cost: Estimate | None = None
    currency: str | None = None

    @property
    def total(self) -> int:
        return self.automated + self.human

    @property
    def estimated_cost(self) -> Money | None:
        return None if self.cost is None or self.currency is None else Money(self.cost.amount, self.currency)


@dataclass(frozen=True)
class Usage:
    channel_id: int
    month: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    automated_sent: int  # our own record: what the cap counts
    human_sent: int
    automated_monthly_cap: int | None
    automated_capped: int
    priced: list[PricedLine]  # from Meta's statuses
    automated_monthly_budget: Decimal | None = None  # in the rate card's currency
    automated_over_budget: int = 0  # automated sends skipped with reason monthly_budget
    currency: str | None = None  # the rate card's; None without one
    cost: Estimate | None = None
    automated_cost: Estimate | None = None

    @property
    def estimated_cost(self) -> Money | None:
        return None if self.cost is None or self.currency is None else Money(self.cost.amount, self.currency)

    @property
    def automated_remaining(self) -> int | None:
        cap = self.automated_monthly_cap
        return None if cap is None else max(0, cap - self.automated_sent)


def channel_usage(ctx: ServiceContext, channel_id: int, month: str | None, *, workspace_id: int | None) -> Usage:
    """`month` is 'YYYY-MM' (default: the current month on the channel's clock)."""
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    zone = channel.policy.timezone
    month = month_of(ctx.clock.now(), zone) if month is None else month.strip()
    try:
        start, end = month_bounds(month, zone)
    except ValueError as exc:
        raise ValidationError("month", str(exc), "invalid_month") from None
    with ctx.db.read() as conn:
        sent = usage_store.sent_counts(conn, channel.id, start, end)
        priced = usage_store.priced_counts(conn, channel.id, start, end)
        capped = usage_store.capped_count(conn, channel.id, start, end)
        skipped = usage_store.skipped_counts(conn, channel.id, start, end)
        card = rate_store.get(conn, channel.workspace_id)
        billed = usage_store.billed_counts(conn, channel.id, start, end) if card is not None else []
    lines: dict[tuple[str | None, str | None], list[int]] = {}
    for p in priced:
        counts = lines.setdefault((p.category, p.pricing_type), [0, 0])
        counts[0 if p.kind in AUTOMATED_KINDS else 1] += p.count
    costs, total, automated = _costs(card, billed)
    return Usage(
        channel_id=channel.id,
        month=month,
        timezone=zone,
        starts_at=start,
        ends_at=end,
        automated_sent=sum(n for kind, n in sent.items() if kind in AUTOMATED_KINDS),
        human_sent=sum(n for kind, n in sent.items() if kind not in AUTOMATED_KINDS),
        automated_monthly_cap=channel.policy.automated_monthly_cap,
        automated_capped=capped,
        priced=[
            PricedLine(
                category,
                ptype,
                a,
                h,
                None if card is None else costs.get((category, ptype), Estimate()),
                None if card is None else card.currency,
            )
            for (category, ptype), (a, h) in sorted(lines.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))
        ],
        automated_monthly_budget=channel.policy.automated_monthly_budget,
        automated_over_budget=skipped.get(MONTHLY_BUDGET, 0),
        currency=None if card is None else card.currency,
        cost=None if card is None else total,
        automated_cost=None if card is None else automated,
    )


def _costs(
    card: RateCard | None, billed: list[usage_store.BilledCount]
) -> tuple[dict[tuple[str | None, str | None], Estimate], Estimate, Estimate]:
    """Per (category, type) line, in total, and of automated sends alone."""
    per_line: dict[tuple[str | None, str | None], Estimate] = {}
    total = automated = Estimate()
    if card is None:
        return per_line, total, automated
    for b in billed:
        cost = estimate(card, b.number_prefix, b.category, b.count)
        key = (b.category, b.pricing_type)
        per_line[key] = per_line.get(key, Estimate()).plus(cost)
        total = total.plus(cost)
        if b.kind in AUTOMATED_KINDS:
            automated = automated.plus(cost)
    return per_line, total, automated


@dataclass(frozen=True)
class MetaWindow:
    """What Meta said about a session beside our own 24-hour window: its free entry point window and
    the referral the customer came with."""

    free_window: FreeWindow | None
    referral: Referral | None


def session_meta_window(ctx: ServiceContext, session_id: int) -> MetaWindow:
    """For a session the caller has already found in its workspace."""
    with ctx.db.read() as conn:
        return MetaWindow(pricing_store.free_window(conn, session_id), pricing_store.referral_of(conn, session_id))


@dataclass(frozen=True)
class LadderCost:
    """What a policy's automated sends would have cost last month, at most: every chat opened then
    getting every reminder step and the closing message, each at the service rate of its market."""

    month: str
    chats: int
    sends_each: int
    cost: Estimate
    currency: str

    def sentence(self) -> str:
        money = Money(self.cost.amount, self.currency)
        said = (
            f"≈ {money} at last month's volume ({self.chats} chats × {self.sends_each} automated sends each, at most)"
        )
        if self.cost.unknown_market:
            said += f"; {self.cost.unknown_market} chats with customers known only by a username are not priced"
        return said


def ladder_cost(ctx: ServiceContext, channel: Channel, policy: Policy) -> LadderCost | None:
    """None without a rate card or without automated sends in `policy`."""
    sends_each = len(policy.ladder) + (1 if policy.closing_message.strip() or policy.closing_template else 0)
    zone = policy.timezone
    this_month_start, _ = current_month_bounds(ctx.clock.now(), zone)
    last_month = month_of(this_month_start - timedelta(days=1), zone)
    start, end = month_bounds(last_month, zone)
    with ctx.db.read() as conn:
        card = rate_store.get(conn, channel.workspace_id)
        if card is None or sends_each == 0:
            return None
        opened = usage_store.chats_opened(conn, channel.id, start, end)
    cost = Estimate()
    for prefix, chats in opened.items():
        cost = cost.plus(estimate(card, prefix, AUTOMATED_SEND_CATEGORY, chats * sends_each))
    unknown = opened.get(None, 0)
    cost = Estimate(cost.amount, cost.priced, unknown, cost.no_rate)
    return LadderCost(last_month, sum(opened.values()), sends_each, cost, card.currency)


def proposed_ladder_cost(
    ctx: ServiceContext, channel_id: int, changes: Mapping[str, object], *, workspace_id: int | None
) -> LadderCost | None:
    """`ladder_cost` of the channel's policy with `changes` (bad settings raised, as the save's dry run)."""
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    return ladder_cost(ctx, channel, policy_impact.checked_policy(changes, channel.policy))

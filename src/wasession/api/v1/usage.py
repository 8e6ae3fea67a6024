"""A channel's usage per calendar month (docs/rules.md R23), workspace-scoped like the channel routes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import PathId, errors
from wasession.domain.rates import Estimate, Money, format_amount
from wasession.runtime_scope import RuntimeDep
from wasession.services import usage as usage_service
from wasession.services.usage import Usage


class MoneyOut(BaseModel):
    amount: str  # a decimal as a string, never a float: "41.20", "0.0125"
    currency: str


class CostOut(BaseModel):
    """What billable messages cost by the workspace's rate card, and what it could not price."""

    estimated_cost: MoneyOut
    priced: int
    unknown_market: int  # recipients known only by a BSUID: their market, so their price, is unknown
    no_rate: int  # markets the card has no rate for in that category


class PricedLineOut(BaseModel):
    category: str | None
    type: str | None
    automated: int
    human: int
    total: int
    estimated_cost: MoneyOut | None = None
    cost: CostOut | None = None


class UsageOut(BaseModel):
    channel_id: int
    month: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    automated_sent: int
    human_sent: int
    automated_monthly_cap: int | None
    automated_remaining: int | None
    automated_capped: int
    automated_monthly_budget: str | None = None  # a decimal, in the rate card's currency
    automated_over_budget: int = 0  # automated sends skipped with reason monthly_budget
    priced: list[PricedLineOut]
    estimated_cost: MoneyOut | None = None  # None: the workspace has no rate card
    cost: CostOut | None = None
    automated_cost: CostOut | None = None


def _money(m: Money | None) -> MoneyOut | None:
    return None if m is None else MoneyOut(**m.to_public())


def _cost(e: Estimate | None, currency: str | None) -> CostOut | None:
    if e is None or currency is None:
        return None
    return CostOut(
        estimated_cost=MoneyOut(**Money(e.amount, currency).to_public()),
        priced=e.priced,
        unknown_market=e.unknown_market,
        no_rate=e.no_rate,
    )


def usage_out(u: Usage) -> UsageOut:
    return UsageOut(
        channel_id=u.channel_id,
        month=u.month,
        timezone=u.timezone,
        starts_at=u.starts_at,
        ends_at=u.ends_at,
        automated_sent=u.automated_sent,
        human_sent=u.human_sent,
        automated_monthly_cap=u.automated_monthly_cap,
        automated_remaining=u.automated_remaining,
        automated_capped=u.automated_capped,
        automated_monthly_budget=None
        if u.automated_monthly_budget is None
        else format_amount(u.automated_monthly_budget),
        automated_over_budget=u.automated_over_budget,
        priced=[
            PricedLineOut(
                category=p.category,
                type=p.type,
                automated=p.automated,
                human=p.human,
                total=p.total,
                estimated_cost=_money(p.estimated_cost),
                cost=_cost(p.cost, p.currency),
            )
            for p in u.priced
        ],
        estimated_cost=_money(u.estimated_cost),
        cost=_cost(u.cost, u.currency),
        automated_cost=_cost(u.automated_cost, u.currency),
    )


router = APIRouter(tags=["channels"])


@router.get(
    "/channels/{channel_id}/usage",
    response_model=UsageOut,
    responses=errors(404),
    summary="Outbound messages in a calendar month of the channel's time zone, by Meta's category and type",
)
def get_usage(
    runtime: RuntimeDep,
    channel_id: PathId,
    ws: int = Depends(workspace),
    month: str | None = Query(None, description="YYYY-MM; default the current month", max_length=20),
) -> UsageOut:
    ctx = runtime.ctx
    return usage_out(usage_service.channel_usage(ctx, channel_id, month, workspace_id=ws))

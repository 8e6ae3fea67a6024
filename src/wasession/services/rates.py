"""A workspace's rate card: the one import path for the API (`PUT /api/v1/rates`) and the CLI
(`wasession rates import FILE`), and the card usage prices with (docs/rules.md R23)."""

from __future__ import annotations

from wasession.domain.rates import RateCard, parse_rate_card
from wasession.lifecycle.context import ServiceContext
from wasession.store import rates as rate_store


def import_rate_card(ctx: ServiceContext, workspace_id: int, text: str) -> RateCard:
    """Parse the whole card first, so a refused card (ValidationError naming the line and column)
    changes nothing; an accepted one replaces the workspace's card whole."""
    card = parse_rate_card(text)
    with ctx.db.write() as conn:
        rate_store.replace(conn, workspace_id, card, ctx.clock.now())
    return card


def rate_card(ctx: ServiceContext, workspace_id: int) -> RateCard | None:
    with ctx.db.read() as conn:
        return rate_store.get(conn, workspace_id)

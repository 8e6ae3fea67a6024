"""The workspace's rate card (docs/rules.md R23): `PUT /rates` imports one, `GET /rates` shows it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from wasession.api.v1.auth import workspace
from wasession.api.v1.schemas import errors
from wasession.domain.rates import RateCard
from wasession.runtime_scope import RuntimeDep
from wasession.services import rates as rates_service
from wasession.services.errors import NotFoundError, ValidationError

MAX_BODY = 5_000_000


class RateOut(BaseModel):
    calling_code: str  # "*": every calling code no other rate names (Meta's "Other")
    category: str
    price: str  # a decimal as a string


class RateCardOut(BaseModel):
    currency: str
    rates: list[RateOut]


def card_out(card: RateCard) -> RateCardOut:
    return RateCardOut(
        currency=card.currency,
        rates=[RateOut(calling_code=c, category=cat, price=p) for c, cat, p in card.to_rows()],
    )


_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "Meta's rate card CSV as downloaded, or the long form `calling_code,category,price,currency`.",
        "content": {"text/csv": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}


router = APIRouter(tags=["rates"])


@router.put(
    "/rates",
    response_model=RateCardOut,
    responses=errors(),
    summary="Replace the workspace's rate card (a refused card, with its line and column named, changes nothing)",
    openapi_extra=_CSV_BODY,
)
async def put_rates(request: Request, runtime: RuntimeDep, ws: int = Depends(workspace)) -> RateCardOut:
    ctx = runtime.ctx
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationError("rates", f"a rate card is at most {MAX_BODY} bytes", "too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("rates", "the rate card must be UTF-8 text (CSV)", "invalid_rate_card") from None
    return card_out(rates_service.import_rate_card(ctx, ws, text))


@router.get("/rates", response_model=RateCardOut, responses=errors(404), summary="The workspace's rate card")
def get_rates(runtime: RuntimeDep, ws: int = Depends(workspace)) -> RateCardOut:
    ctx = runtime.ctx
    card = rates_service.rate_card(ctx, ws)
    if card is None:
        raise NotFoundError("rate card of workspace", ws)
    return card_out(card)

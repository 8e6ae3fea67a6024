"""Meta's pricing facts per outbound message and the first referral per session (docs/rules.md R23)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from wasession.domain.pricing import FREE_ENTRY_POINT, PRICING_FIELDS, REFERRAL_CONVERSION, MessagePricing
from wasession.store.db import executemany
from wasession.store.schema import message_pricing, session_referrals


@dataclass(frozen=True)
class StoredPricing:
    pricing: MessagePricing
    status_order: int


@dataclass(frozen=True)
class FreeWindow:
    """The latest free entry point window Meta reported on one of a session's messages."""

    conversation_id: str | None
    origin_type: str | None
    pricing_type: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Referral:
    wamid: str
    referral: Mapping[str, Any]
    received_at: datetime


_FREE = (message_pricing.c.pricing_type == FREE_ENTRY_POINT) | (message_pricing.c.origin_type == REFERRAL_CONVERSION)


# The columns `get_many` reads after the id: MessagePricing's fields in their order, then the order. Rows are
# converted by position (the apply reads this for every status of a batch; by name cost a third more).
_MANY_COLUMNS = [*(message_pricing.c[name] for name in PRICING_FIELDS), message_pricing.c.status_order]


def get_many(conn: Connection, message_ids: Sequence[int]) -> dict[int, StoredPricing | None]:
    """`get` for each of these messages in one query (None: nothing stored yet)."""
    found: dict[int, StoredPricing | None] = dict.fromkeys(message_ids)
    if message_ids:
        query = select(message_pricing.c.message_id, *_MANY_COLUMNS).where(
            message_pricing.c.message_id.in_(sorted(set(message_ids)))
        )
        for message_id, *fields, status_order in conn.execute(query):
            found[message_id] = StoredPricing(MessagePricing(*fields), status_order)
    return found


def get(conn: Connection, message_id: int) -> StoredPricing | None:
    return get_many(conn, [message_id])[message_id]


class PricingSaves:
    """What a batch merged into its messages' pricing, gathered and written by `flush` in one
    statement per kind (an INSERT for messages without a row, an UPDATE for the others): a message
    saved twice in a batch is written once, with its last values."""

    def __init__(self) -> None:
        self._inserts: dict[int, dict[str, Any]] = {}
        self._updates: dict[int, dict[str, Any]] = {}

    def add(
        self,
        *,
        message_id: int,
        channel_id: int,
        session_id: int,
        pricing: MessagePricing,
        status_order: int,
        exists: bool,
        now: datetime,
    ) -> None:
        values = {name: getattr(pricing, name) for name in PRICING_FIELDS}
        values.update(status_order=status_order, updated_at=now)
        if message_id in self._inserts:  # saved earlier in the batch: still one new row
            self._inserts[message_id].update(values)
        elif exists:
            self._updates[message_id] = {"b_message_id": message_id, **values}
        else:
            self._inserts[message_id] = {
                "message_id": message_id,
                "channel_id": channel_id,
                "session_id": session_id,
                **values,
            }

    def flush(self, conn: Connection) -> None:
        # Straight to the driver (`store.db.executemany`): a status batch saves a row for most of its sends.
        if self._inserts:
            executemany(conn, _INSERT_PRICING, list(self._inserts.values()))
        if self._updates:
            executemany(conn, _UPDATE_PRICING, list(self._updates.values()))
        self._inserts, self._updates = {}, {}


_INSERT_PRICING = insert(message_pricing)
_UPDATE_PRICING = (
    update(message_pricing)
    .where(message_pricing.c.message_id == bindparam("b_message_id"))
    .values({name: bindparam(name) for name in (*PRICING_FIELDS, "status_order", "updated_at")})
)


def free_window_seen(conn: Connection, session_id: int, conversation_id: str | None, except_message: int) -> bool:
    """Whether another message of the session already reported this free entry point window."""
    query = select(message_pricing.c.message_id).where(
        message_pricing.c.session_id == session_id, message_pricing.c.message_id != except_message, _FREE
    )
    if conversation_id is not None:
        query = query.where(message_pricing.c.conversation_id == conversation_id)
    return conn.execute(query.limit(1)).first() is not None


def free_window(conn: Connection, session_id: int) -> FreeWindow | None:
    rows = (
        conn.execute(
            select(message_pricing)
            .where(message_pricing.c.session_id == session_id, _FREE)
            .order_by(message_pricing.c.message_id)
        )
        .mappings()
        .all()
    )
    if not rows:
        return None
    latest = rows[-1]
    same = [r for r in rows if r["conversation_id"] == latest["conversation_id"]]
    expiries = [r["expires_at"] for r in same if r["expires_at"] is not None]
    return FreeWindow(
        conversation_id=latest["conversation_id"],
        origin_type=next((r["origin_type"] for r in reversed(same) if r["origin_type"]), None),
        pricing_type=next((r["pricing_type"] for r in reversed(same) if r["pricing_type"]), None),
        expires_at=max(expiries) if expiries else None,
    )


def add_referral(conn: Connection, session_id: int, wamid: str, referral: Mapping[str, Any], now: datetime) -> bool:
    """Keep `referral` unless the session already has one (the first wins); whether it was kept."""
    if referral_of(conn, session_id) is not None:
        return False
    conn.execute(
        insert(session_referrals).values(session_id=session_id, wamid=wamid, referral=dict(referral), received_at=now)
    )
    return True


def referral_of(conn: Connection, session_id: int) -> Referral | None:
    row = conn.execute(select(session_referrals).where(session_referrals.c.session_id == session_id)).mappings().first()
    return Referral(row["wamid"], dict(row["referral"]), row["received_at"]) if row else None

"""Each contact's marketing state (docs/rules.md R24): opted out (a `user_preferences` stop, error
131050) until a resume, and marketing sends deferred until a time (error 131049)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from wasession.store.schema import contact_marketing


@dataclass(frozen=True)
class MarketingState:
    opted_out_at: datetime | None
    opt_out_source: str | None
    deferred_until: datetime | None


def get(conn: Connection, contact_id: int) -> MarketingState | None:
    row = conn.execute(select(contact_marketing).where(contact_marketing.c.contact_id == contact_id)).mappings().first()
    return None if row is None else MarketingState(row["opted_out_at"], row["opt_out_source"], row["deferred_until"])


def _put(conn: Connection, contact_id: int, now: datetime, **values: Any) -> None:
    exists = conn.execute(
        select(contact_marketing.c.contact_id).where(contact_marketing.c.contact_id == contact_id)
    ).first()
    if exists:
        conn.execute(
            update(contact_marketing)
            .where(contact_marketing.c.contact_id == contact_id)
            .values(updated_at=now, **values)
        )
    else:
        conn.execute(insert(contact_marketing).values(contact_id=contact_id, updated_at=now, **values))


def opt_out(conn: Connection, contact_id: int, source: str, at: datetime) -> None:
    _put(conn, contact_id, at, opted_out_at=at, opt_out_source=source)


def resume(conn: Connection, contact_id: int, at: datetime) -> None:
    _put(conn, contact_id, at, opted_out_at=None, opt_out_source=None, deferred_until=None)


def defer(conn: Connection, contact_id: int, until: datetime, at: datetime) -> None:
    _put(conn, contact_id, at, deferred_until=until)

"""Each workspace's rate card (docs/rules.md R23): one row, replaced whole on import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from wasession.domain.rates import RateCard, from_rows
from wasession.store.schema import contacts, rate_cards, sessions


def get(conn: Connection, workspace_id: int) -> RateCard | None:
    row = conn.execute(select(rate_cards).where(rate_cards.c.workspace_id == workspace_id)).mappings().first()
    if row is None:
        return None
    return from_rows(row["currency"], [(str(c), str(cat), str(p)) for c, cat, p in row["rates"]])


def replace(conn: Connection, workspace_id: int, card: RateCard, now: datetime) -> None:
    conn.execute(delete(rate_cards).where(rate_cards.c.workspace_id == workspace_id))
    conn.execute(
        insert(rate_cards).values(
            workspace_id=workspace_id,
            currency=card.currency,
            rates=[list(row) for row in card.to_rows()],
            updated_at=now,
        )
    )


def recipient_number(conn: Connection, session_id: int) -> str | None:
    """The phone number (wa_id) of the session's contact; None for a contact known only by a BSUID."""
    query = (
        select(contacts.c.wa_id)
        .select_from(sessions.join(contacts, contacts.c.id == sessions.c.contact_id))
        .where(sessions.c.id == session_id)
    )
    value = conn.execute(query).scalar()
    return str(value) if value else None

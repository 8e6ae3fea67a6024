"""Each workspace's rate card (docs/rules.md R23): one row, replaced whole on import."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select

from wasession.domain.rates import RateCard, from_rows
from wasession.store.db import in_lists
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


# Built once: a statement per call cost more to build than to run (issue 21's profile of billed statuses).
_NUMBERS = (
    select(sessions.c.id, contacts.c.wa_id)
    .select_from(sessions.join(contacts, contacts.c.id == sessions.c.contact_id))
    .where(sessions.c.id.in_(bindparam("ids", expanding=True)))
)


def recipient_numbers(conn: Connection, session_ids: Iterable[int]) -> dict[int, str | None]:
    """The phone number (wa_id) of each session's contact, by session id: None for a contact known
    only by a BSUID; a session that does not exist is left out. One query per `VALUES_PER_IN_LIST` ids."""
    numbers: dict[int, str | None] = {}
    for part in in_lists(sorted(set(session_ids))):
        for session_id, wa_id in conn.execute(_NUMBERS, {"ids": part}):
            numbers[int(session_id)] = str(wa_id) if wa_id else None
    return numbers

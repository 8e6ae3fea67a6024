"""Numbers Meta sends webhooks for that no channel has (issue 26), per workspace whose app secret
signed those bodies: what the operator should add as a channel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from wasession.store.db import Connection, IntegrityError
from wasession.store.schema import channels, unrouted_numbers

t = unrouted_numbers


@dataclass(frozen=True)
class UnroutedNumber:
    phone_number_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    bodies: int


def record(
    conn: Connection, workspace_ids: Iterable[int], phone_number_ids: Iterable[str], at: datetime, bodies: int
) -> None:
    """`bodies` more bodies seen at `at` for each number, in each workspace."""
    for workspace_id in workspace_ids:
        for pnid in phone_number_ids:
            changed = conn.execute(
                update(t)
                .where(t.c.workspace_id == workspace_id, t.c.phone_number_id == pnid)
                .values(last_seen_at=at, bodies=t.c.bodies + bodies)
            ).rowcount
            if changed:
                continue
            savepoint = conn.begin_nested()
            try:
                conn.execute(
                    t.insert().values(
                        workspace_id=workspace_id,
                        phone_number_id=pnid,
                        first_seen_at=at,
                        last_seen_at=at,
                        bodies=bodies,
                    )
                )
                savepoint.commit()
            except IntegrityError:  # another process inserted it a moment ago
                savepoint.rollback()
                conn.execute(
                    update(t)
                    .where(t.c.workspace_id == workspace_id, t.c.phone_number_id == pnid)
                    .values(last_seen_at=at, bodies=t.c.bodies + bodies)
                )


def listed(conn: Connection, workspace_id: int, limit: int = 100) -> list[UnroutedNumber]:
    """The workspace's unrouted numbers that still no channel has, most recently seen first."""
    rows = conn.execute(
        select(t.c.phone_number_id, t.c.first_seen_at, t.c.last_seen_at, t.c.bodies)
        .outerjoin(channels, channels.c.phone_number_id == t.c.phone_number_id)
        .where(t.c.workspace_id == workspace_id, channels.c.id.is_(None))
        .order_by(t.c.last_seen_at.desc(), t.c.phone_number_id)
        .limit(limit)
    ).all()
    return [UnroutedNumber(str(r[0]), r[1], r[2], int(r[3])) for r in rows]

"""The counts behind the Prometheus gauges: active and eligible sessions, and the outbox's backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from wasession.domain.states import MessageStatus, SessionStatus
from wasession.store.db import Connection
from wasession.store.schema import messages, sessions


@dataclass(frozen=True)
class GaugeCounts:
    active: int
    eligible: int
    outbox: int  # messages waiting to be sent or being sent


def gauge_counts(conn: Connection, now: datetime) -> GaugeCounts:
    active, eligible = conn.execute(
        select(func.count(), func.count().filter(sessions.c.eligible_at <= now)).where(
            sessions.c.status == SessionStatus.ACTIVE
        )
    ).one()
    outbox = conn.execute(
        select(func.count()).where(messages.c.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)))
    ).scalar_one()
    return GaugeCounts(int(active), int(eligible), int(outbox))

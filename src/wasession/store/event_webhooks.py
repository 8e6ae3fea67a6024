"""Outbound event webhooks (R16) and their delivery log. Secrets are stored encrypted, never returned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.sql import Select

from wasession.store.events import Event
from wasession.store.schema import event_deliveries, event_webhooks, events
from wasession.store.secrets import SecretBox

# A claimed delivery stays `delivering` with next_attempt_at as its lease: if the process dies mid-request
# the row becomes due again when the lease runs out, so nothing is lost.
RETRYABLE = ("pending", "delivering")


@dataclass(frozen=True)
class EventWebhook:
    id: int
    workspace_id: int
    url: str
    description: str
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: int | None
    payload: Any
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


_PUBLIC = [event_webhooks.c[n] for n in ("id", "workspace_id", "url", "description", "enabled", "created_at")]


def _webhook(row: Any) -> EventWebhook:
    return EventWebhook(**dict(row))


_EVENT_FIELDS = ("workspace_id", "channel_id", "session_id", "type", "at", "data")
_EVENT_COLUMNS = [events.c[n].label(f"event_{n}") for n in _EVENT_FIELDS]


def _deliveries() -> Select[Any]:
    """Delivery rows with their event's columns, to build an event delivery's payload from."""
    return select(event_deliveries, *_EVENT_COLUMNS).select_from(
        event_deliveries.outerjoin(events, events.c.id == event_deliveries.c.event_id)
    )


def _delivery(row: Any) -> Delivery:
    values = dict(row)
    event = {n: values.pop(f"event_{n}") for n in _EVENT_FIELDS}
    if values["payload"] is None and values["event_id"] is not None and event["type"] is not None:
        values["payload"] = event_payload(Event(id=values["event_id"], **event))
    return Delivery(**values)


def insert_webhook(
    conn: Connection,
    box: SecretBox,
    *,
    workspace_id: int,
    url: str,
    secret: str,
    description: str,
    enabled: bool,
    now: datetime,
) -> int:
    result = conn.execute(
        insert(event_webhooks).values(
            workspace_id=workspace_id,
            url=url,
            secret_enc=box.encrypt(secret),
            description=description,
            enabled=enabled,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_webhook(conn: Connection, webhook_id: int, *, for_update: bool = False) -> EventWebhook | None:
    query = select(*_PUBLIC).where(event_webhooks.c.id == webhook_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _webhook(row) if row else None


def webhooks_of(conn: Connection, workspace_id: int) -> list[EventWebhook]:
    rows = conn.execute(
        select(*_PUBLIC).where(event_webhooks.c.workspace_id == workspace_id).order_by(event_webhooks.c.id)
    ).mappings()
    return [_webhook(r) for r in rows]


def enabled_webhooks(conn: Connection) -> list[EventWebhook]:
    rows = conn.execute(select(*_PUBLIC).where(event_webhooks.c.enabled.is_(True)).order_by(event_webhooks.c.id))
    return [_webhook(r) for r in rows.mappings()]


def any_enabled(conn: Connection) -> bool:
    enabled = select(event_webhooks.c.id).where(event_webhooks.c.enabled.is_(True)).limit(1)
    return conn.execute(enabled).first() is not None


def secret_of(conn: Connection, box: SecretBox, webhook_id: int) -> str:
    token = conn.execute(select(event_webhooks.c.secret_enc).where(event_webhooks.c.id == webhook_id)).scalar_one()
    return box.decrypt(token)


def update_webhook(conn: Connection, box: SecretBox, webhook_id: int, *, secret: str | None, **values: Any) -> None:
    if secret is not None:
        values["secret_enc"] = box.encrypt(secret)
    if values:
        conn.execute(update(event_webhooks).where(event_webhooks.c.id == webhook_id).values(**values))


def delete_webhook(conn: Connection, webhook_id: int) -> None:
    conn.execute(delete(event_webhooks).where(event_webhooks.c.id == webhook_id))


# -- the outbox ----------------------------------------------------------------------------------------
# Event deliveries are written by store/events.py in the event's own transaction; test sends here.


def event_payload(event: Event) -> dict[str, Any]:
    """The body of an event's delivery, built when it is sent from the event row."""
    return {
        "event_id": event.id,
        "type": event.type,
        "at": event.at.isoformat(),
        "workspace_id": event.workspace_id,
        "channel_id": event.channel_id,
        "session_id": event.session_id,
        "data": dict(event.data),
    }


def insert_delivery(conn: Connection, *, webhook_id: int, event_id: int | None, payload: Any, now: datetime) -> int:
    result = conn.execute(
        insert(event_deliveries).values(
            webhook_id=webhook_id,
            event_id=event_id,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


# -- delivery -------------------------------------------------------------------------------------------


def get_delivery(conn: Connection, delivery_id: int) -> Delivery | None:
    row = conn.execute(_deliveries().where(event_deliveries.c.id == delivery_id)).mappings().first()
    return _delivery(row) if row else None


def _in_flight(now: datetime) -> Any:
    """A delivery of the same webhook is being sent (its lease has not run out)."""
    other = event_deliveries.alias("other")
    return exists().where(
        other.c.webhook_id == event_deliveries.c.webhook_id,
        other.c.status == "delivering",
        other.c.next_attempt_at > now,
    )


def webhooks_due(conn: Connection, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(webhook id, workspace id) of webhooks with a delivery due and none in flight: at most one call per
    webhook at a time keeps each receiver's events in order, and a slow receiver occupies one worker."""
    rows = conn.execute(
        select(event_deliveries.c.webhook_id, event_webhooks.c.workspace_id)
        .join(event_webhooks, event_webhooks.c.id == event_deliveries.c.webhook_id)
        .where(event_deliveries.c.status.in_(RETRYABLE), event_deliveries.c.next_attempt_at <= now, ~_in_flight(now))
        .group_by(event_deliveries.c.webhook_id, event_webhooks.c.workspace_id)
        .order_by(func.min(event_deliveries.c.next_attempt_at))
        .limit(limit)
    ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def claim_for_webhook(conn: Connection, webhook_id: int, now: datetime, limit: int) -> list[Delivery]:
    """The webhook's oldest due deliveries, in event order, if none of its deliveries is in flight.

    The webhook row is locked (PostgreSQL), so two workers never claim for one webhook at once; SQLite has
    one writer anyway. FOR NO KEY UPDATE, because every open transaction that queues a delivery holds a
    key-share lock on the row (the foreign key): a plain FOR UPDATE would skip the webhook until it ends.
    """
    locked = conn.execute(
        select(event_webhooks.c.id)
        .where(event_webhooks.c.id == webhook_id)
        .with_for_update(skip_locked=True, key_share=True)
    ).first()
    if locked is None:
        return []
    busy = conn.execute(
        select(event_deliveries.c.id)
        .where(
            event_deliveries.c.webhook_id == webhook_id,
            event_deliveries.c.status == "delivering",
            event_deliveries.c.next_attempt_at > now,
        )
        .limit(1)
    ).first()
    if busy is not None:
        return []
    rows = conn.execute(
        _deliveries()
        .where(
            event_deliveries.c.webhook_id == webhook_id,
            event_deliveries.c.status.in_(RETRYABLE),
            event_deliveries.c.next_attempt_at <= now,
        )
        .order_by(event_deliveries.c.id)
        .limit(limit)
    ).mappings()
    return [_delivery(r) for r in rows]


def claim_one(conn: Connection, delivery_id: int) -> Delivery | None:
    row = (
        conn.execute(
            _deliveries()
            .where(event_deliveries.c.id == delivery_id, event_deliveries.c.status.in_(RETRYABLE))
            .with_for_update(of=event_deliveries)
        )
        .mappings()
        .first()
    )
    return _delivery(row) if row else None


def update_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(update(event_deliveries).where(event_deliveries.c.id == delivery_id).values(**values))


def next_attempt_at(conn: Connection, now: datetime) -> datetime | None:
    """When a delivery is next due; one waiting behind a delivery in flight counts from that lease's end, so
    a loop never spins on work it may not take yet."""
    value: datetime | None = conn.execute(
        select(func.min(event_deliveries.c.next_attempt_at)).where(
            or_(
                event_deliveries.c.status == "delivering",
                and_(event_deliveries.c.status == "pending", ~_in_flight(now)),
            )
        )
    ).scalar()
    return value


def deliveries_of(
    conn: Connection, webhook_id: int, *, before_id: int | None, limit: int, status: str | None = None
) -> list[Delivery]:
    """The delivery log, newest first."""
    query = _deliveries().where(event_deliveries.c.webhook_id == webhook_id)
    if before_id is not None:
        query = query.where(event_deliveries.c.id < before_id)
    if status is not None:
        query = query.where(event_deliveries.c.status == status)
    rows = conn.execute(query.order_by(event_deliveries.c.id.desc()).limit(limit)).mappings()
    return [_delivery(r) for r in rows]

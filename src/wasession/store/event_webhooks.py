"""Outbound event webhooks (R16) and their delivery log. Secrets are stored encrypted, never returned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

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


def _delivery(row: Any) -> Delivery:
    return Delivery(**dict(row))


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


# -- fan-out --------------------------------------------------------------------------------------------


def last_event_id(conn: Connection, webhook_id: int) -> int | None:
    """The newest event this webhook already has a delivery for (test sends carry no event)."""
    value = conn.execute(
        select(func.max(event_deliveries.c.event_id)).where(event_deliveries.c.webhook_id == webhook_id)
    ).scalar()
    return int(value) if value is not None else None


def events_for(conn: Connection, webhook: EventWebhook, *, after_id: int | None, limit: int) -> list[Event]:
    """The workspace's events a webhook has not been given yet, oldest first.

    A webhook that has never had a delivery starts with the events of its own creation time on, so a
    new URL is not flooded with history.
    """
    query = select(events).where(events.c.workspace_id == webhook.workspace_id)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    else:
        query = query.where(events.c.at >= webhook.created_at)
    rows = conn.execute(query.order_by(events.c.id).limit(limit)).mappings()
    return [Event(**dict(r)) for r in rows]


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
    row = conn.execute(select(event_deliveries).where(event_deliveries.c.id == delivery_id)).mappings().first()
    return _delivery(row) if row else None


def claim_due(conn: Connection, now: datetime, limit: int) -> list[Delivery]:
    rows = conn.execute(
        select(event_deliveries)
        .where(event_deliveries.c.status.in_(RETRYABLE), event_deliveries.c.next_attempt_at <= now)
        .order_by(event_deliveries.c.next_attempt_at, event_deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).mappings()
    return [_delivery(r) for r in rows]


def claim_one(conn: Connection, delivery_id: int) -> Delivery | None:
    row = (
        conn.execute(
            select(event_deliveries)
            .where(event_deliveries.c.id == delivery_id, event_deliveries.c.status.in_(RETRYABLE))
            .with_for_update()
        )
        .mappings()
        .first()
    )
    return _delivery(row) if row else None


def update_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(update(event_deliveries).where(event_deliveries.c.id == delivery_id).values(**values))


def next_attempt_at(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(
        select(func.min(event_deliveries.c.next_attempt_at)).where(event_deliveries.c.status.in_(RETRYABLE))
    ).scalar()
    return value


def deliveries_of(
    conn: Connection, webhook_id: int, *, before_id: int | None, limit: int, status: str | None = None
) -> list[Delivery]:
    """The delivery log, newest first."""
    query = select(event_deliveries).where(event_deliveries.c.webhook_id == webhook_id)
    if before_id is not None:
        query = query.where(event_deliveries.c.id < before_id)
    if status is not None:
        query = query.where(event_deliveries.c.status == status)
    rows = conn.execute(query.order_by(event_deliveries.c.id.desc()).limit(limit)).mappings()
    return [_delivery(r) for r in rows]

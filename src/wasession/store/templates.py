"""Each channel's cached approved templates and where they come from (its WhatsApp Business Account)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from wasession.store import secrets_version
from wasession.store.schema import message_templates, template_sources

_COLUMNS = (
    message_templates.c.name,
    message_templates.c.language,
    message_templates.c.category,
    message_templates.c.body,
)


@dataclass(frozen=True)
class TemplateSource:
    channel_id: int
    waba_id: str
    fetched_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class CachedTemplate:
    name: str
    language: str
    category: str
    body: str


def source(conn: Connection, channel_id: int) -> TemplateSource | None:
    row = conn.execute(select(template_sources).where(template_sources.c.channel_id == channel_id)).mappings().first()
    return TemplateSource(**dict(row)) if row else None


def set_source(conn: Connection, channel_id: int, waba_id: str) -> None:
    secrets_version.bump(conn)  # the ack finds a number's app secret through its business account id too
    if source(conn, channel_id) is None:
        conn.execute(insert(template_sources).values(channel_id=channel_id, waba_id=waba_id))
    else:
        conn.execute(
            update(template_sources).where(template_sources.c.channel_id == channel_id).values(waba_id=waba_id)
        )


def record_fetch(conn: Connection, channel_id: int, at: datetime, error: str | None) -> None:
    conn.execute(
        update(template_sources).where(template_sources.c.channel_id == channel_id).values(fetched_at=at, error=error)
    )


def replace_all(conn: Connection, channel_id: int, templates: Sequence[CachedTemplate]) -> None:
    conn.execute(delete(message_templates).where(message_templates.c.channel_id == channel_id))
    if templates:
        conn.execute(
            insert(message_templates),
            [
                {
                    "channel_id": channel_id,
                    "name": t.name,
                    "language": t.language,
                    "category": t.category,
                    "body": t.body,
                }
                for t in templates
            ],
        )


def for_channel(conn: Connection, channel_id: int) -> list[CachedTemplate]:
    rows = conn.execute(
        select(*_COLUMNS)
        .where(message_templates.c.channel_id == channel_id)
        .order_by(message_templates.c.name, message_templates.c.language)
    ).mappings()
    return [CachedTemplate(**dict(r)) for r in rows]


def one(conn: Connection, channel_id: int, name: str, language: str) -> CachedTemplate | None:
    row = (
        conn.execute(
            select(*_COLUMNS).where(
                message_templates.c.channel_id == channel_id,
                message_templates.c.name == name,
                message_templates.c.language == language,
            )
        )
        .mappings()
        .first()
    )
    return CachedTemplate(**dict(row)) if row else None

"""Read-only look-ups the faces (CLI, Simulator) need and no service offers: the SQL stays in
`store`, the faces get plain values."""

from __future__ import annotations

from wasession.lifecycle.context import ServiceContext
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import events as event_store
from wasession.store import message_counts, probe
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.events import Event
from wasession.store.messages import MessageRow
from wasession.store.sessions import SessionRow

__all__ = ["Event", "MessageRow", "SessionRow"]  # the row types the Simulator turns into its views


def all_channels(ctx: ServiceContext) -> list[Channel]:
    with ctx.db.read() as conn:
        return channel_store.list_all(conn)


def describe_database(ctx: ServiceContext) -> str:
    """'sqlite database: sqlite:///…' with any password hidden, for start-up banners."""
    url = ctx.db.url
    return f"{url.split('://')[0]} database: {probe.safe_url(url)}"


def latest_session(
    ctx: ServiceContext, channel: Channel, *, wa_id: str | None, user_id: str | None
) -> SessionRow | None:
    with ctx.db.read() as conn:
        contact = contact_store.find(conn, channel.workspace_id, wa_id=wa_id, user_id=user_id)
        return session_store.latest_for(conn, channel.id, contact.id) if contact else None


def active_sessions(ctx: ServiceContext, channel_id: int) -> list[SessionRow]:
    with ctx.db.read() as conn:
        return session_store.active_in_channel(conn, channel_id)


def sessions_in(ctx: ServiceContext, channel_id: int) -> list[SessionRow]:
    with ctx.db.read() as conn:
        return session_store.in_channel(conn, channel_id)


def contact_name(ctx: ServiceContext, session_id: int) -> str:
    with ctx.db.read() as conn:
        session = session_store.get(conn, session_id)
        contact = contact_store.get(conn, session.contact_id) if session else None
    return contact.display_name() if contact else "?"


def session_events(ctx: ServiceContext, session_id: int) -> list[Event]:
    with ctx.db.read() as conn:
        return event_store.for_session(conn, session_id)


def workspace_events(ctx: ServiceContext, workspace_id: int) -> list[Event]:
    with ctx.db.read() as conn:
        return event_store.for_workspace(conn, workspace_id)


def transcript(ctx: ServiceContext, session_id: int) -> list[MessageRow]:
    with ctx.db.read() as conn:
        return message_store.transcript(conn, session_id)


def message(ctx: ServiceContext, message_id: int) -> MessageRow | None:
    with ctx.db.read() as conn:
        return message_store.get(conn, message_id)


def message_by_wamid(ctx: ServiceContext, channel_id: int, wamid: str) -> MessageRow | None:
    with ctx.db.read() as conn:
        return message_store.by_wamid(conn, channel_id, wamid)


def message_count(ctx: ServiceContext, *, direction: str | None = None) -> int:
    with ctx.db.read() as conn:
        return message_counts.count(conn, direction=direction)

"""A workspace's canned replies (issue 23): admins keep them, agents fill one into a reply. Filling only
writes the reply box's text: sending stays the one reply path (`agents.send_text`)."""

from __future__ import annotations

from wasession.domain import canned
from wasession.lifecycle.context import ServiceContext
from wasession.services import queries as query_service
from wasession.services.errors import ConflictError, NotFoundError
from wasession.store import team as team_store
from wasession.store.db import Connection, IntegrityError
from wasession.store.team import CannedReply

__all__ = ["CannedReply", "create", "delete", "fill", "get", "list_replies", "update"]


def list_replies(ctx: ServiceContext, *, workspace_id: int) -> list[CannedReply]:
    with ctx.db.read() as conn:
        return team_store.canned(conn, workspace_id)


def _existing(conn: Connection, reply_id: int, workspace_id: int) -> CannedReply:
    found = team_store.canned_reply(conn, reply_id, workspace_id)
    if found is None:
        raise NotFoundError("canned reply", reply_id)
    return found


def get(ctx: ServiceContext, reply_id: int, *, workspace_id: int) -> CannedReply:
    with ctx.db.read() as conn:
        return _existing(conn, reply_id, workspace_id)


def _taken(name: str) -> ConflictError:
    return ConflictError(f"a canned reply named {name} already exists", code="duplicate", field="name")


def create(ctx: ServiceContext, name: str, text: str, *, workspace_id: int) -> CannedReply:
    name, text = canned.check_name(name), canned.check_text(text)
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            if team_store.canned_by_name(conn, workspace_id, name) is not None:
                raise _taken(name)
            reply_id = team_store.insert_canned(conn, workspace_id, name=name, text=text, at=now)
            return _existing(conn, reply_id, workspace_id)
    except IntegrityError as exc:  # a concurrent create of the same name
        raise _taken(name) from exc


def update(
    ctx: ServiceContext, reply_id: int, *, workspace_id: int, name: str | None = None, text: str | None = None
) -> CannedReply:
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            current = _existing(conn, reply_id, workspace_id)
            new_name = canned.check_name(name) if name is not None else current.name
            new_text = canned.check_text(text) if text is not None else current.text
            other = team_store.canned_by_name(conn, workspace_id, new_name)
            if other is not None and other.id != reply_id:
                raise _taken(new_name)
            team_store.update_canned(conn, reply_id, name=new_name, text=new_text, at=now)
            return _existing(conn, reply_id, workspace_id)
    except IntegrityError as exc:
        raise _taken(name or "") from exc


def delete(ctx: ServiceContext, reply_id: int, *, workspace_id: int) -> None:
    with ctx.db.write() as conn:
        _existing(conn, reply_id, workspace_id)
        team_store.delete_canned(conn, reply_id)


def merge_values(ctx: ServiceContext, session_id: int, *, workspace_id: int, agent_name: str) -> dict[str, str]:
    """The merge fields' values for one chat and agent; another workspace's session is not found."""
    summary = query_service.session_summary(ctx, session_id, workspace_id=workspace_id)
    return {
        "contact_name": summary.contact_name,
        "wa_id": summary.contact_wa_id or "",
        "agent_name": agent_name,
    }


def fill(ctx: ServiceContext, reply_id: int, session_id: int, *, workspace_id: int, agent_name: str) -> str:
    """The reply's text with its merge fields filled in for the chat and the agent."""
    reply = get(ctx, reply_id, workspace_id=workspace_id)
    return canned.fill(reply.text, merge_values(ctx, session_id, workspace_id=workspace_id, agent_name=agent_name))

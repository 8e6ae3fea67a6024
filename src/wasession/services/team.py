"""A team sharing an inbox (issue 23): a chat's assignee and its private notes. The API, the dashboard
and the Simulator all call these functions, scoped to one workspace: another workspace's session is
not found. Notes are rows of their own, never messages: nothing here reaches the outbox or WhatsApp."""

from __future__ import annotations

from datetime import datetime

from wasession.domain.events import EventType
from wasession.lifecycle.context import ServiceContext
from wasession.services.agents import agent_session
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import events as event_store
from wasession.store import queries as query_store
from wasession.store import team as team_store
from wasession.store import users as user_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.team import Assignment, Note

__all__ = ["MAX_NOTE", "Assignment", "Note", "add_note", "assign", "assignee", "notes", "unassign", "usernames"]

MAX_NOTE = 4000


def _check_session(conn: Connection, session_id: int, workspace_id: int) -> None:
    if query_store.one(conn, workspace_id, session_id) is None:
        raise NotFoundError("session", session_id)


def assignee(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> Assignment | None:
    with ctx.db.read() as conn:
        _check_session(conn, session_id, workspace_id)
        return team_store.assignment(conn, session_id)


def usernames(ctx: ServiceContext, *, workspace_id: int) -> list[str]:
    """The workspace's dashboard users: who a chat can be assigned to."""
    with ctx.db.read() as conn:
        return [u.username for u in user_store.list_users(conn, workspace_id)]


def assign(ctx: ServiceContext, session_id: int, user: str, *, workspace_id: int, by: str) -> Assignment:
    """Assign the chat to `user` (a username of the workspace), replacing any assignee; `by` says who
    did it (a username, or "API key <name>"). Assigning it to whom it already is changes nothing."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        found = user_store.by_username(conn, user.strip()) if user.strip() else None
        if found is None or found.workspace_id != workspace_id:
            shown = repr(user) if user.strip() else "empty"
            code = "unknown" if user.strip() else "required"
            raise ValidationError("user", f"user must be a dashboard user of this workspace; it was {shown}", code)
        before = team_store.assignment(conn, session.id)
        if before is None or before.user_id != found.id:
            team_store.assign(conn, session.id, found.id, at=now, by=by)
            _record(conn, channel, session.id, now, found.username, before, by)
        after = team_store.assignment(conn, session.id)
    ctx.wake()
    assert after is not None
    return after


def _record(
    conn: Connection,
    channel: Channel,
    session_id: int,
    at: datetime,
    assignee: str | None,
    before: Assignment | None,
    by: str,
) -> None:
    """The `session_assigned` event of a change of assignee (None: unassigned)."""
    event_store.add(
        conn,
        workspace_id=channel.workspace_id,
        channel_id=channel.id,
        session_id=session_id,
        type=EventType.SESSION_ASSIGNED,
        at=at,
        data={"assignee": assignee, "previous": before.username if before else None, "by": by},
    )


def unassign(ctx: ServiceContext, session_id: int, *, workspace_id: int, by: str) -> None:
    """Nobody's chat any more; a chat already unassigned is left as it is (no event)."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        before = team_store.assignment(conn, session.id)
        if before is None:
            return
        team_store.unassign(conn, session.id)
        _record(conn, channel, session.id, now, None, before, by)
    ctx.wake()


def notes(ctx: ServiceContext, session_id: int, *, workspace_id: int) -> list[Note]:
    with ctx.db.read() as conn:
        _check_session(conn, session_id, workspace_id)
        return team_store.notes(conn, session_id)


def add_note(ctx: ServiceContext, session_id: int, text: str, *, workspace_id: int, author: str) -> Note:
    """A private note on the session, by `author`; never sent to the customer."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        _check_session(conn, session_id, workspace_id)
        if not text.strip():
            raise ValidationError("text", "text may not be empty", code="required")
        if len(text) > MAX_NOTE:
            raise ValidationError("text", f"text must be at most {MAX_NOTE} characters; got {len(text)}", "too_long")
        note_id = team_store.add_note(conn, session_id, author=author, text=text.strip(), at=now)
        note = team_store.note(conn, note_id)
    assert note is not None
    return note

"""A team's inbox (issue 23): who each chat is assigned to, private notes, canned replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from wasession.store.schema import canned_replies, session_assignments, session_notes, users


@dataclass(frozen=True)
class Assignment:
    session_id: int
    user_id: int
    username: str
    assigned_at: datetime
    assigned_by: str


@dataclass(frozen=True)
class Note:
    id: int
    session_id: int
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class CannedReply:
    id: int
    workspace_id: int
    name: str
    text: str
    created_at: datetime
    updated_at: datetime


_ASSIGNMENT = select(
    session_assignments.c.session_id,
    session_assignments.c.user_id,
    users.c.username,
    session_assignments.c.assigned_at,
    session_assignments.c.assigned_by,
).join(users, users.c.id == session_assignments.c.user_id)


def assignment(conn: Connection, session_id: int) -> Assignment | None:
    row = conn.execute(_ASSIGNMENT.where(session_assignments.c.session_id == session_id)).mappings().first()
    return Assignment(**row) if row is not None else None


def assignments(conn: Connection, session_ids: list[int]) -> dict[int, Assignment]:
    if not session_ids:
        return {}
    rows = conn.execute(_ASSIGNMENT.where(session_assignments.c.session_id.in_(session_ids))).mappings()
    return {r["session_id"]: Assignment(**r) for r in rows}


def assign(conn: Connection, session_id: int, user_id: int, *, at: datetime, by: str) -> None:
    """The chat's one assignee, replacing any earlier one."""
    moved = conn.execute(
        update(session_assignments)
        .where(session_assignments.c.session_id == session_id)
        .values(user_id=user_id, assigned_at=at, assigned_by=by)
    ).rowcount
    if not moved:
        conn.execute(
            insert(session_assignments).values(session_id=session_id, user_id=user_id, assigned_at=at, assigned_by=by)
        )


def unassign(conn: Connection, session_id: int) -> bool:
    """True when the chat had an assignee."""
    return bool(
        conn.execute(delete(session_assignments).where(session_assignments.c.session_id == session_id)).rowcount
    )


def add_note(conn: Connection, session_id: int, *, author: str, text: str, at: datetime) -> int:
    result = conn.execute(insert(session_notes).values(session_id=session_id, author=author, text=text, created_at=at))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def notes(conn: Connection, session_id: int) -> list[Note]:
    query = select(session_notes).where(session_notes.c.session_id == session_id).order_by(session_notes.c.id)
    return [Note(**r) for r in conn.execute(query).mappings()]


def note(conn: Connection, note_id: int) -> Note | None:
    row = conn.execute(select(session_notes).where(session_notes.c.id == note_id)).mappings().first()
    return Note(**row) if row is not None else None


def canned(conn: Connection, workspace_id: int) -> list[CannedReply]:
    query = select(canned_replies).where(canned_replies.c.workspace_id == workspace_id).order_by(canned_replies.c.name)
    return [CannedReply(**r) for r in conn.execute(query).mappings()]


def canned_reply(conn: Connection, reply_id: int, workspace_id: int) -> CannedReply | None:
    query = select(canned_replies).where(canned_replies.c.id == reply_id, canned_replies.c.workspace_id == workspace_id)
    row = conn.execute(query).mappings().first()
    return CannedReply(**row) if row is not None else None


def canned_by_name(conn: Connection, workspace_id: int, name: str) -> CannedReply | None:
    query = select(canned_replies).where(canned_replies.c.workspace_id == workspace_id, canned_replies.c.name == name)
    row = conn.execute(query).mappings().first()
    return CannedReply(**row) if row is not None else None


def insert_canned(conn: Connection, workspace_id: int, *, name: str, text: str, at: datetime) -> int:
    result = conn.execute(
        insert(canned_replies).values(workspace_id=workspace_id, name=name, text=text, created_at=at, updated_at=at)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def update_canned(conn: Connection, reply_id: int, *, name: str, text: str, at: datetime) -> None:
    conn.execute(
        update(canned_replies).where(canned_replies.c.id == reply_id).values(name=name, text=text, updated_at=at)
    )


def delete_canned(conn: Connection, reply_id: int) -> None:
    conn.execute(delete(canned_replies).where(canned_replies.c.id == reply_id))

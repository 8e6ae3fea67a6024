"""Dashboard users and their login sessions (cookie tokens are stored only as sha256 hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from wasession.store.schema import login_sessions, users


@dataclass(frozen=True)
class User:
    id: int
    workspace_id: int
    username: str
    password_hash: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class LoginSession:
    id: int
    user_id: int
    username: str
    workspace_id: int
    csrf_token: str
    expires_at: datetime
    is_admin: bool = True


def insert_user(
    conn: Connection, *, workspace_id: int, username: str, password_hash: str, is_admin: bool, now: datetime
) -> int:
    result = conn.execute(
        insert(users).values(
            workspace_id=workspace_id,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def by_username(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
    return User(**row) if row is not None else None


def insert_login_session(
    conn: Connection, *, user_id: int, token_hash: str, csrf_token: str, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(login_sessions).values(
            user_id=user_id, token_hash=token_hash, csrf_token=csrf_token, created_at=now, expires_at=expires_at
        )
    )


def login_session_by_hash(conn: Connection, token_hash: str, now: datetime) -> LoginSession | None:
    """The unexpired login session with this token hash, with its user's name and workspace."""
    row = (
        conn.execute(
            select(
                login_sessions.c.id,
                login_sessions.c.user_id,
                users.c.username,
                users.c.workspace_id,
                login_sessions.c.csrf_token,
                login_sessions.c.expires_at,
                users.c.is_admin,
            )
            .join(users, users.c.id == login_sessions.c.user_id)
            .where(login_sessions.c.token_hash == token_hash, login_sessions.c.expires_at > now)
        )
        .mappings()
        .first()
    )
    return LoginSession(**row) if row is not None else None


def delete_login_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(login_sessions).where(login_sessions.c.token_hash == token_hash))


def delete_expired(conn: Connection, now: datetime) -> int:
    return conn.execute(delete(login_sessions).where(login_sessions.c.expires_at <= now)).rowcount


def list_users(conn: Connection, workspace_id: int | None = None) -> list[User]:
    query = select(users).order_by(users.c.id)
    if workspace_id is not None:
        query = query.where(users.c.workspace_id == workspace_id)
    return [User(**row) for row in conn.execute(query).mappings()]


def delete_user(conn: Connection, user_id: int) -> None:
    """The user and, by cascade, their login sessions."""
    conn.execute(delete(login_sessions).where(login_sessions.c.user_id == user_id))
    conn.execute(delete(users).where(users.c.id == user_id))


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    """A new password, and every login session of the user ended: whoever knew the old one is out."""
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
    conn.execute(delete(login_sessions).where(login_sessions.c.user_id == user_id))

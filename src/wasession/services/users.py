"""Dashboard users: scrypt password hashes, and login sessions behind an opaque cookie token.

Only the sha256 of a cookie token is stored, so a leaked database does not log anyone in. Each login
session carries its own CSRF token, which every dashboard form must send back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from wasession.lifecycle.context import ServiceContext
from wasession.services import workspaces as workspace_service
from wasession.services.channels import DEFAULT_WORKSPACE
from wasession.services.errors import ConflictError, NotFoundError, ValidationError
from wasession.store import channels as channel_store
from wasession.store import users as user_store
from wasession.store.db import Connection, IntegrityError
from wasession.store.users import LoginSession, User

__all__ = [
    "LOGIN_TTL",
    "ROLES",
    "Login",
    "LoginSession",
    "User",
    "authenticate",
    "create_user",
    "delete_user",
    "has_admin",
    "hash_password",
    "list_users",
    "logout",
    "reset_password",
    "role_of",
    "session_for_token",
    "verify_password",
]

# Long enough that a working day (or a simulated one in the browser tests) never logs an admin out.
LOGIN_TTL = timedelta(days=7)
MIN_PASSWORD = 8
# An admin changes settings, channels, API keys, users and event webhooks; an agent reads and answers
# the chats of their workspace (docs/security.md, "Roles").
ADMIN, AGENT = "admin", "agent"
ROLES = (ADMIN, AGENT)
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,200}")
# scrypt at 16 MiB of memory: OWASP's minimum recommendation for interactive logins.
_N, _R, _P = 2**14, 8, 1


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return _stored(salt, _scrypt(password, salt, _N, _R, _P))


def _stored(salt: bytes, digest: bytes) -> str:
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


# What a login with an unknown name is checked against, so a wrong name costs the same scrypt as a wrong
# password. Random bytes stand in for the digest: nothing matches them, and hashing a password for it at
# import cost every `serve` and most CLI commands a 16 MiB scrypt whether anyone logs in or not.
_DUMMY_SALT, _DUMMY_DIGEST = secrets.token_bytes(16), secrets.token_bytes(32)


def _dummy_hash() -> str:
    return _stored(_DUMMY_SALT, _DUMMY_DIGEST)  # at the cost in force, as a real hash would be made now


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_of(user: User | LoginSession) -> str:
    return ADMIN if user.is_admin else AGENT


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            "password", f"password must be at least {MIN_PASSWORD} characters; got {len(password)}", code="too_short"
        )


def create_user(
    ctx: ServiceContext,
    username: str,
    password: str,
    *,
    workspace: str = "default",
    is_admin: bool = True,
    role: str | None = None,
    new_workspace: bool = True,
) -> int:
    """`new_workspace=False`: a workspace that does not exist yet is refused (naming a near miss)
    rather than created, for a face where the name was typed (`users add`); "default" is always
    made on first use."""
    if role is not None:
        if role not in ROLES:
            raise ValidationError("role", f"role must be one of {', '.join(ROLES)}; got {role!r}", code="invalid")
        is_admin = role == ADMIN
    if not USERNAME.fullmatch(username):
        raise ValidationError(
            "username", f"username must be 1-200 letters, digits or _ . @ -; got {username!r}", code="invalid"
        )
    _check_password(password)
    if not workspace.strip():
        raise ValidationError("workspace", "workspace may not be empty", code="required")
    password_hash = hash_password(password)
    now = ctx.clock.now()
    try:
        with ctx.db.write() as conn:
            if user_store.by_username(conn, username) is not None:
                raise ConflictError(f"a user named {username!r} already exists", code="duplicate", field="username")
            if not new_workspace and workspace.strip() != DEFAULT_WORKSPACE:
                workspace_service.refuse_unknown(conn, workspace.strip())
            workspace_id = channel_store.ensure_workspace(conn, workspace.strip(), now)
            return user_store.insert_user(
                conn,
                workspace_id=workspace_id,
                username=username,
                password_hash=password_hash,
                is_admin=is_admin,
                now=now,
            )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise ConflictError(f"a user named {username!r} already exists", code="duplicate", field="username") from exc


def list_users(ctx: ServiceContext, *, workspace_id: int | None = None) -> list[User]:
    with ctx.db.read() as conn:
        return user_store.list_users(conn, workspace_id)


def _existing(conn: Connection, username: str) -> User:
    user = user_store.by_username(conn, username)
    if user is None:
        raise NotFoundError("user", repr(username))
    return user


def delete_user(ctx: ServiceContext, username: str) -> None:
    """Delete the user and end their login sessions at once."""
    with ctx.db.write() as conn:
        user_store.delete_user(conn, _existing(conn, username).id)


def reset_password(ctx: ServiceContext, username: str, password: str) -> None:
    """Set a new password and log the user out everywhere."""
    _check_password(password)
    password_hash = hash_password(password)
    with ctx.db.write() as conn:
        user_store.set_password_hash(conn, _existing(conn, username).id, password_hash)


def has_admin(ctx: ServiceContext) -> bool:
    return any(u.is_admin for u in list_users(ctx))


@dataclass(frozen=True)
class Login:
    token: str  # goes into the cookie; never stored
    session: LoginSession


def authenticate(ctx: ServiceContext, username: str, password: str) -> Login | None:
    """A new login session for the right password, else None (same answer for unknown users)."""
    with ctx.db.read() as conn:
        user = user_store.by_username(conn, username)
    ok = verify_password(password, user.password_hash if user else _dummy_hash())
    if user is None or not ok:
        return None
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        user_store.delete_expired(conn, now)
        user_store.insert_login_session(
            conn,
            user_id=user.id,
            token_hash=_token_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            now=now,
            expires_at=now + LOGIN_TTL,
        )
        session = user_store.login_session_by_hash(conn, _token_hash(token), now)
    assert session is not None
    return Login(token, session)


def session_for_token(ctx: ServiceContext, token: str | None) -> LoginSession | None:
    if not token:
        return None
    with ctx.db.read() as conn:
        return user_store.login_session_by_hash(conn, _token_hash(token), ctx.clock.now())


def logout(ctx: ServiceContext, token: str | None) -> None:
    if token:
        with ctx.db.write() as conn:
            user_store.delete_login_session(conn, _token_hash(token))

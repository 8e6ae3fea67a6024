"""API keys: shown once at creation, stored as a sha256 hash, named, revocable, scoped to a workspace.

A key has 256 bits of randomness, so a plain (unsalted) sha256 is enough: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError
from wasession.services.workspaces import clean_name
from wasession.store import apikeys as key_store
from wasession.store.apikeys import ApiKey as ApiKey  # re-exported for the faces

KEY_PREFIX = "wsk_"
SHOWN_PREFIX_LENGTH = 12  # "wsk_" and 8 random characters: enough to recognise a key in a list
# Recording every use would make each read request a write; a minute's precision is plenty.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # the whole key; shown once, never stored

    def __repr__(self) -> str:  # keep the key out of tracebacks and logs
        return f"CreatedKey(key={self.key!r}, secret=<hidden>)"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(ctx: ServiceContext, *, workspace_id: int, name: str) -> CreatedKey:
    cleaned = clean_name(name)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        key_id = key_store.insert_key(
            conn,
            workspace_id=workspace_id,
            name=cleaned,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            now=now,
        )
        key = key_store.get_key(conn, key_id)
    assert key is not None
    return CreatedKey(key, secret)


def list_keys(ctx: ServiceContext, *, workspace_id: int) -> list[ApiKey]:
    with ctx.db.read() as conn:
        return key_store.keys_of(conn, workspace_id)


def get_key(ctx: ServiceContext, key_id: int, *, workspace_id: int) -> ApiKey:
    with ctx.db.read() as conn:
        key = key_store.get_key(conn, key_id)
    if key is None or key.workspace_id != workspace_id:
        raise NotFoundError("API key", key_id)
    return key


def revoke_key(ctx: ServiceContext, key_id: int, *, workspace_id: int) -> ApiKey:
    """Revoke a key; revoking a revoked key is harmless and keeps the first revocation time."""
    with ctx.db.write() as conn:
        key = key_store.get_key(conn, key_id)
        if key is None or key.workspace_id != workspace_id:
            raise NotFoundError("API key", key_id)
        key_store.revoke_key(conn, key_id, ctx.clock.now())
        revoked = key_store.get_key(conn, key_id)
    assert revoked is not None
    return revoked


def authenticate(ctx: ServiceContext, secret: str) -> ApiKey | None:
    """The live key `secret` names, or None for an unknown, malformed or revoked key."""
    if not secret.startswith(KEY_PREFIX):
        return None
    digest = hash_key(secret)
    with ctx.db.read() as conn:
        key = key_store.key_by_hash(conn, digest)
    if key is None or key.revoked_at is not None:
        return None
    now = ctx.clock.now()
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        with ctx.db.write() as conn:
            key_store.touch_key(conn, key.id, now)
    return key

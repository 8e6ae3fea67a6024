"""Workspaces and the API keys that act for them. Keys are stored as a sha256 hash plus a short prefix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from wasession.store.schema import api_keys, workspaces


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: int
    workspace_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_KEY_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]


def _key(row: Any) -> ApiKey:
    return ApiKey(**dict(row))


def workspace_by_name(conn: Connection, name: str) -> Workspace | None:
    row = conn.execute(select(workspaces).where(workspaces.c.name == name)).mappings().first()
    return Workspace(**dict(row)) if row else None


def workspace_get(conn: Connection, workspace_id: int) -> Workspace | None:
    row = conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).mappings().first()
    return Workspace(**dict(row)) if row else None


def list_workspaces(conn: Connection) -> list[Workspace]:
    return [Workspace(**dict(r)) for r in conn.execute(select(workspaces).order_by(workspaces.c.id)).mappings()]


def insert_workspace(conn: Connection, name: str, now: datetime) -> int:
    return int(conn.execute(insert(workspaces).values(name=name, created_at=now)).inserted_primary_key[0])  # type: ignore[index]


def insert_key(conn: Connection, *, workspace_id: int, name: str, prefix: str, key_hash: str, now: datetime) -> int:
    result = conn.execute(
        insert(api_keys).values(workspace_id=workspace_id, name=name, prefix=prefix, key_hash=key_hash, created_at=now)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_key(conn: Connection, key_id: int) -> ApiKey | None:
    row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).mappings().first()
    return _key(row) if row else None


def key_by_hash(conn: Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.key_hash == key_hash)).mappings().first()
    return _key(row) if row else None


def keys_of(conn: Connection, workspace_id: int) -> list[ApiKey]:
    rows = conn.execute(
        select(*_KEY_COLUMNS).where(api_keys.c.workspace_id == workspace_id).order_by(api_keys.c.id)
    ).mappings()
    return [_key(r) for r in rows]


def revoke_key(conn: Connection, key_id: int, now: datetime) -> None:
    conn.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )


def touch_key(conn: Connection, key_id: int, now: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

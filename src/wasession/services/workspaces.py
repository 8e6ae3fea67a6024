"""Workspaces: the tenant every channel, contact, key and webhook belongs to."""

from __future__ import annotations

from difflib import get_close_matches

from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import ConflictError, NotFoundError, ValidationError
from wasession.store import apikeys as key_store
from wasession.store.apikeys import Workspace
from wasession.store.db import Connection

MAX_NAME = 200


def clean_name(name: str, field: str = "name") -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ValidationError(field, f"{field} is required and may not be empty", code="required")
    if len(cleaned) > MAX_NAME:
        raise ValidationError(field, f"{field} must be at most {MAX_NAME} characters; got {len(cleaned)}", "too_long")
    return cleaned


def create_workspace(ctx: ServiceContext, name: str) -> Workspace:
    cleaned = clean_name(name)
    with ctx.db.write() as conn:
        if key_store.workspace_by_name(conn, cleaned) is not None:
            raise ConflictError(f"a workspace named {cleaned!r} already exists", code="duplicate", field="name")
        workspace_id = key_store.insert_workspace(conn, cleaned, ctx.clock.now())
        created = key_store.workspace_get(conn, workspace_id)
    assert created is not None
    return created


def workspace_named(ctx: ServiceContext, name: str) -> Workspace:
    with ctx.db.read() as conn:
        found = key_store.workspace_by_name(conn, name.strip())
        if found is None:
            refuse_unknown(conn, name.strip())
    assert found is not None
    return found


class WorkspaceNotFound(NotFoundError):
    def __init__(self, name: str, near: str | None) -> None:
        super().__init__("workspace", repr(name))
        hint = f"; did you mean {near!r}?" if near else " (`wasession workspaces list` shows them)"
        self.message = f"workspace {name!r} not found{hint}"
        self.field = "workspace"
        self.args = (self.message,)


def refuse_unknown(conn: Connection, name: str) -> None:
    """Nothing if `name` is a workspace; else refused, naming the closest existing one."""
    if key_store.workspace_by_name(conn, name) is not None:
        return
    names = [w.name for w in key_store.list_workspaces(conn)] + ["default"]  # made on first use
    near = get_close_matches(name, names, n=1, cutoff=0.6)
    raise WorkspaceNotFound(name, near[0] if near else None)


def get_workspace(ctx: ServiceContext, workspace_id: int) -> Workspace:
    with ctx.db.read() as conn:
        found = key_store.workspace_get(conn, workspace_id)
    if found is None:
        raise NotFoundError("workspace", workspace_id)
    return found


def list_workspaces(ctx: ServiceContext) -> list[Workspace]:
    with ctx.db.read() as conn:
        return key_store.list_workspaces(conn)

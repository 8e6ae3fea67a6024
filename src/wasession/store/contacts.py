"""Contacts: a WhatsApp user as one workspace sees them, keyed by wa_id, else business-scoped user_id."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from wasession.store.db import in_lists
from wasession.store.schema import contacts, require_column_order

# Built once: ingest looks a contact up for every message, and building costs more than executing (issue 6).
_GET = select(contacts).where(contacts.c.id == bindparam("b_id"))
_GET_MANY = select(contacts).where(contacts.c.id.in_(bindparam("b_ids", expanding=True)))
_UPDATE = update(contacts).where(contacts.c.id == bindparam("b_id"))
_INSERT = insert(contacts)
_BY_WA_ID = contacts.c.wa_id == bindparam("b_wa_id")
_BY_USER_ID = contacts.c.user_id == bindparam("b_user_id")
_FIND = {
    (True, False): select(contacts).where(contacts.c.workspace_id == bindparam("b_ws"), _BY_WA_ID),
    (False, True): select(contacts).where(contacts.c.workspace_id == bindparam("b_ws"), _BY_USER_ID),
    (True, True): select(contacts).where(contacts.c.workspace_id == bindparam("b_ws"), or_(_BY_WA_ID, _BY_USER_ID)),
}
# One statement per key, not an OR of both: each then probes its unique (workspace_id, key) index
# instead of reading every contact of the workspace.
_FIND_MANY = {
    key: select(contacts).where(
        contacts.c.workspace_id == bindparam("b_ws"), contacts.c[key].in_(bindparam("b_keys", expanding=True))
    )
    for key in ("wa_id", "user_id")
}


@dataclass(frozen=True)
class Contact:
    id: int
    workspace_id: int
    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str | None
    username: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime

    def display_name(self) -> str:
        names = " ".join(n for n in (self.effective_first_name(), self.effective_last_name()) if n)
        return names or self.profile_name or self.wa_id or self.user_id or f"contact {self.id}"

    def effective_first_name(self) -> str:
        if self.first_name is not None:
            return self.first_name
        return (self.profile_name or "").strip().split(" ", 1)[0]

    def effective_last_name(self) -> str:
        if self.last_name is not None:
            return self.last_name
        parts = (self.profile_name or "").strip().split(" ", 1)
        return parts[1].strip() if len(parts) == 2 else ""

    def effective_phone(self) -> str:
        if self.phone is not None:
            return self.phone
        return f"+{self.wa_id}" if self.wa_id else ""

    def merge_values(self) -> dict[str, str]:
        """Values for the reminder template's contact merge fields (docs/rules.md, merge fields)."""
        return {
            "contact_firstname": self.effective_first_name(),
            "contact_lastname": self.effective_last_name(),
            "contact_email": self.email or "",
            "contact_phone": self.effective_phone(),
        }

    def send_address(self) -> tuple[str | None, str | None]:
        return send_address(self.wa_id, self.user_id)


def send_address(wa_id: str | None, user_id: str | None) -> tuple[str | None, str | None]:
    """(to, recipient): the phone number when known, else the business-scoped user id."""
    return (wa_id, None) if wa_id else (None, user_id)


def _contact(row: Any) -> Contact:
    return Contact(*row)  # every statement here selects the table's columns, in Contact's order


require_column_order(Contact, contacts)


def get(conn: Connection, contact_id: int) -> Contact | None:
    row = conn.execute(_GET, {"b_id": contact_id}).first()
    return _contact(row) if row else None


def get_many(conn: Connection, contact_ids: Collection[int]) -> dict[int, Contact]:
    """These contacts by id: one query per `VALUES_PER_IN_LIST` ids."""
    found: dict[int, Contact] = {}
    for part in in_lists(sorted(set(contact_ids))):
        for row in conn.execute(_GET_MANY, {"b_ids": part}):
            contact = _contact(row)
            found[contact.id] = contact
    return found


def find(conn: Connection, workspace_id: int, *, wa_id: str | None, user_id: str | None) -> Contact | None:
    if not wa_id and not user_id:
        return None
    params = {"b_ws": workspace_id, "b_wa_id": wa_id, "b_user_id": user_id}
    rows = [_contact(r) for r in conn.execute(_FIND[bool(wa_id), bool(user_id)], params)]
    # wa_id is the primary key of a person (R1); a user_id match is the fallback.
    for c in rows:
        if wa_id and c.wa_id == wa_id:
            return c
    return rows[0] if rows else None


def upsert_seen(
    conn: Connection,
    workspace_id: int,
    *,
    wa_id: str | None,
    user_id: str | None,
    parent_user_id: str | None,
    profile_name: str | None,
    username: str | None,
    now: datetime,
) -> Contact:
    """The contact a webhook names, created on first sight, with newly learned identifiers filled in."""
    seen = Seen(wa_id, user_id, parent_user_id, profile_name, username)
    existing = find(conn, workspace_id, wa_id=wa_id, user_id=user_id)
    if existing is None:
        return insert_seen(conn, workspace_id, seen, now)
    changes = seen_changes(existing, seen)
    if not changes:
        return existing
    changes["updated_at"] = now
    conn.execute(update(contacts).where(contacts.c.id == existing.id).values(**changes))
    updated = get(conn, existing.id)
    assert updated is not None
    return updated


@dataclass(frozen=True)
class Seen:
    """What a webhook tells of its sender."""

    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str | None
    username: str | None


def _seen_values(workspace_id: int, seen: Seen, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "wa_id": seen.wa_id,
        "user_id": seen.user_id,
        "parent_user_id": seen.parent_user_id,
        "profile_name": seen.profile_name,
        "username": seen.username,
        "created_at": now,
        "updated_at": now,
    }


def insert_seen(conn: Connection, workspace_id: int, seen: Seen, now: datetime) -> Contact:
    """A contact seen for the first time; returned without reading it back."""
    values = _seen_values(workspace_id, seen, now)
    new_id = conn.execute(_INSERT, values).inserted_primary_key[0]  # type: ignore[index]
    return _new_contact(int(new_id), values)


def seen_contact(contact_id: int, workspace_id: int, seen: Seen, now: datetime) -> Contact:
    """The contact `insert_seen` would return, under an id of the caller's (not stored)."""
    return _new_contact(contact_id, _seen_values(workspace_id, seen, now))


def _new_contact(contact_id: int, values: dict[str, Any]) -> Contact:
    return Contact(id=contact_id, first_name=None, last_name=None, email=None, phone=None, **values)


def insert_many_seen(conn: Connection, rows: Sequence[tuple[int, Seen, datetime]]) -> list[Contact]:
    """`insert_seen` for each (workspace id, seen, now), in one statement; the contacts in the
    order given (their ids ascending in that order, as one insert after another would give)."""
    if len(rows) <= 1:
        return [insert_seen(conn, workspace_id, seen, now) for workspace_id, seen, now in rows]
    values: list[dict[str, Any]] = [_seen_values(workspace_id, seen, now) for workspace_id, seen, now in rows]
    # Matched back by their names (two new contacts never share one): asking for the rows in the
    # order given would make SQLAlchemy send one INSERT per row on SQLite.
    query = _INSERT.returning(contacts.c.id, contacts.c.workspace_id, contacts.c.wa_id, contacts.c.user_id)
    ids = {(ws, wa, user): int(i) for i, ws, wa, user in conn.execute(query, values)}
    return [_new_contact(ids[(v["workspace_id"], v["wa_id"], v["user_id"])], v) for v in values]


def seen_changes(existing: Contact, seen: Seen) -> dict[str, Any]:
    """The columns a webhook from `seen` fills in or corrects on `existing` (without `updated_at`)."""
    changes: dict[str, Any] = {}
    if seen.wa_id and existing.wa_id is None:
        changes["wa_id"] = seen.wa_id
    if seen.user_id and existing.user_id != seen.user_id and (existing.user_id is None or existing.wa_id == seen.wa_id):
        changes["user_id"] = seen.user_id
    if seen.parent_user_id and existing.parent_user_id != seen.parent_user_id:
        changes["parent_user_id"] = seen.parent_user_id
    if seen.profile_name and existing.profile_name != seen.profile_name:
        changes["profile_name"] = seen.profile_name
    if seen.username and existing.username != seen.username:
        changes["username"] = seen.username
    return changes


def find_many(
    conn: Connection, workspace_id: int, *, wa_ids: Collection[str], user_ids: Collection[str]
) -> list[Contact]:
    """The workspace's contacts with any of these wa_ids or user_ids: one query per key and
    `VALUES_PER_IN_LIST` values (none for a key without values)."""
    found: dict[int, Contact] = {}
    for key, values in (("wa_id", sorted(set(wa_ids))), ("user_id", sorted(set(user_ids)))):
        for part in in_lists(values):
            for row in conn.execute(_FIND_MANY[key], {"b_ws": workspace_id, "b_keys": part}):
                contact = _contact(row)
                found[contact.id] = contact
    return list(found.values())


def update_fields(conn: Connection, contact_id: int, now: datetime, **changes: Any) -> None:
    conn.execute(update(contacts).where(contacts.c.id == contact_id).values(updated_at=now, **changes))


def update_many(conn: Connection, updates: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Each (contact id, values) as `update_fields` writes it (values include `updated_at`), one
    executemany per set of columns; each contact id at most once."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for contact_id, values in updates:
        by_columns.setdefault(tuple(values), []).append({"b_id": contact_id, **values})
    for params in by_columns.values():
        conn.execute(_UPDATE, params)


def page_in_workspace(
    conn: Connection, workspace_id: int, *, after_id: int | None, limit: int, wa_id: str | None = None
) -> list[Contact]:
    """Up to `limit` of the workspace's contacts by id, after `after_id` if given, with `wa_id` if given."""
    query = select(contacts).where(contacts.c.workspace_id == workspace_id)
    if wa_id is not None:
        query = query.where(contacts.c.wa_id == wa_id)
    if after_id is not None:
        query = query.where(contacts.c.id > after_id)
    return [_contact(r) for r in conn.execute(query.order_by(contacts.c.id).limit(limit))]

"""Contacts as agents edit them: names and email feed the reminder's merge fields; CSV import."""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass, field

from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import contacts as contact_store
from wasession.store.contacts import Contact as Contact  # re-exported for the faces

MAX_NAME = 128
MAX_EMAIL = 320
MAX_IMPORT_ROWS = 10_000
TRANSACTION_SECONDS = 0.02  # the longest an import holds the writer at once
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
WA_ID = re.compile(r"\d{6,20}")
IMPORT_COLUMNS = ("wa_id", "first_name", "last_name", "email")


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line number in the file, the header being line 1
    field: str | None
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def clean_fields(values: dict[str, str | None]) -> dict[str, str | None]:
    """Validated first_name/last_name/email; None clears a name back to the WhatsApp profile default."""
    out: dict[str, str | None] = {}
    for name, value in values.items():
        if value is None:
            out[name] = None
            continue
        value = value.strip()
        if name in ("first_name", "last_name") and len(value) > MAX_NAME:
            raise ValidationError(name, f"{name} must be at most {MAX_NAME} characters; got {len(value)}", "too_long")
        if name == "email" and value and (len(value) > MAX_EMAIL or not EMAIL.fullmatch(value)):
            raise ValidationError("email", f"email must be an address like ana@example.com; got {value!r}")
        out[name] = value if value or name != "email" else None
    return out


def wa_id_filter(value: str | None) -> str | None:
    """A phone number as a wa_id filter: Meta's wa_id is the number's digits, so a leading + and the
    spaces and dashes people write are dropped; anything else is refused."""
    if value is None:
        return None
    digits = re.sub(r"[\s-]", "", value).removeprefix("+")
    if not WA_ID.fullmatch(digits):
        raise ValidationError("wa_id", f"wa_id must be a phone number's digits (6 to 20, an optional +); got {value!r}")
    return digits


def list_contacts(
    ctx: ServiceContext, *, workspace_id: int, limit: int = 50, after_id: int | None = None, wa_id: str | None = None
) -> tuple[list[Contact], int | None]:
    """A page of contacts by id, and the id to continue after (None on the last page)."""
    wanted = wa_id_filter(wa_id)
    with ctx.db.read() as conn:
        found = contact_store.page_in_workspace(conn, workspace_id, after_id=after_id, limit=limit + 1, wa_id=wanted)
    page = found[:limit]
    return page, (page[-1].id if len(found) > limit else None)


def get_contact(ctx: ServiceContext, contact_id: int, *, workspace_id: int) -> Contact:
    with ctx.db.read() as conn:
        found = contact_store.get(conn, contact_id)
    if found is None or found.workspace_id != workspace_id:
        raise NotFoundError("contact", contact_id)
    return found


def update_contact(
    ctx: ServiceContext, contact_id: int, changes: dict[str, str | None], *, workspace_id: int
) -> Contact:
    cleaned = clean_fields(changes)
    with ctx.db.write() as conn:
        found = contact_store.get(conn, contact_id)
        if found is None or found.workspace_id != workspace_id:
            raise NotFoundError("contact", contact_id)
        if cleaned:
            contact_store.update_fields(conn, contact_id, ctx.clock.now(), **cleaned)
        updated = contact_store.get(conn, contact_id)
    assert updated is not None
    return updated


def import_csv(ctx: ServiceContext, text: str, *, workspace_id: int) -> ImportReport:
    """Create or update contacts by wa_id. Good rows are applied; each bad row is reported and skipped.

    Columns: wa_id (required), first_name, last_name, email; empty cells leave a value unchanged.
    Written in short transactions: an import cut short (the process killed) keeps the rows before the cut.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError("file", f"the header row is not valid CSV: {exc}", code="invalid_csv") from exc
    if "wa_id" not in header:
        raise ValidationError("file", "the CSV needs a header row with a wa_id column", code="missing_column")
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if unknown:
        raise ValidationError(
            "file",
            f"unknown column(s) {', '.join(unknown)}; columns are {', '.join(IMPORT_COLUMNS)}",
            "unknown_column",
        )
    reader.fieldnames = header
    report = ImportReport()
    rows = _valid_rows(reader, report)
    now = ctx.clock.now()
    # Short write transactions, each ending after TRANSACTION_SECONDS: a 10,000-row import in one held the
    # SQLite writer for seconds and webhooks waited 2.5-3.2 s for their 200 (issue 25). The writer lock
    # is taken in arrival order (store/locks.py), so an ack waits at most one of these.
    done = 0
    while done < len(rows):
        began = time.monotonic()
        with ctx.db.write() as conn:
            while done < len(rows) and time.monotonic() - began < TRANSACTION_SECONDS:
                wa_id, changes = rows[done]
                done += 1
                existing = contact_store.find(conn, workspace_id, wa_id=wa_id, user_id=None)
                contact = existing or contact_store.upsert_seen(
                    conn,
                    workspace_id,
                    wa_id=wa_id,
                    user_id=None,
                    parent_user_id=None,
                    profile_name=None,
                    username=None,
                    now=now,
                )
                if changes:
                    contact_store.update_fields(conn, contact.id, now, **changes)
                if existing is None:
                    report.created += 1
                else:
                    report.updated += 1
    return report


def _valid_rows(reader: csv.DictReader[str], report: ImportReport) -> list[tuple[str, dict[str, str | None]]]:
    """Every row checked before anything is written: (wa_id, changes) of the good ones, in file order;
    each bad one reported in `report`."""
    rows: list[tuple[str, dict[str, str | None]]] = []
    for index in range(MAX_IMPORT_ROWS + 1):
        line = index + 2
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The csv module cannot resynchronise after a malformed record, so the rest is not read.
            report.errors.append(RowError(line, None, f"not valid CSV from here on: {exc}"))
            break
        if index >= MAX_IMPORT_ROWS:
            report.errors.append(RowError(line, None, f"at most {MAX_IMPORT_ROWS} rows per import"))
            break
        if None in raw:
            report.errors.append(RowError(line, None, "the row has more cells than the header"))
            continue
        wa_id = (raw.get("wa_id") or "").strip().lstrip("+")
        if not WA_ID.fullmatch(wa_id):
            report.errors.append(RowError(line, "wa_id", f"wa_id must be 6-20 digits; got {wa_id!r}"))
            continue
        try:
            changes = clean_fields({k: v for k in IMPORT_COLUMNS[1:] if (v := (raw.get(k) or "").strip())})
        except ValidationError as exc:
            report.errors.append(RowError(line, exc.field, exc.message))
            continue
        rows.append((wa_id, changes))
    return rows

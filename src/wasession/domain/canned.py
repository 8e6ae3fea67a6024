"""Canned replies (issue 23): a workspace's saved answers, with merge fields filled in for the chat.

A merge field is `{{name}}` with one of `MERGE_FIELDS`; a text naming any other is refused when it is
saved, so an agent never sends a literal `{{contact_nmae}}` to a customer."""

from __future__ import annotations

import re
from collections.abc import Mapping

from wasession.domain.errors import ValidationError

# Each field and what it becomes (docs/api.md, "Canned replies").
MERGE_FIELDS: dict[str, str] = {
    "contact_name": "the contact's name (their WhatsApp profile name, else their number)",
    "wa_id": "the contact's WhatsApp number",
    "agent_name": "the name of the agent who uses the reply",
}
NAME = re.compile(r"/[a-z0-9][a-z0-9_-]{0,62}")
MAX_TEXT = 4096  # what one WhatsApp text may hold (agents.MAX_TEXT)
_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def check_name(value: str) -> str:
    name = value.strip().lower()
    if not name.startswith("/"):
        name = "/" + name
    if not NAME.fullmatch(name):
        shown = repr(value) if value.strip() else "empty"
        raise ValidationError(
            "name",
            f"name must be a slash and 1-63 lower-case letters, digits, _ or - (like /thanks); it was {shown}",
            code="invalid" if value.strip() else "required",
        )
    return name


def check_text(value: str) -> str:
    if not value.strip():
        raise ValidationError("text", "text may not be empty", code="required")
    if len(value) > MAX_TEXT:
        raise ValidationError("text", f"text must be at most {MAX_TEXT} characters; got {len(value)}", "too_long")
    unknown = [f for f in _FIELD.findall(value) if f not in MERGE_FIELDS]
    if unknown:
        raise ValidationError(
            "text",
            f"text names an unknown merge field {{{{{unknown[0]}}}}}; the fields are "
            + ", ".join(f"{{{{{f}}}}}" for f in MERGE_FIELDS),
            code="unknown_field",
        )
    return value


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each merge field replaced by its value (an absent value leaves it empty)."""
    return _FIELD.sub(lambda m: values.get(m.group(1), ""), text)

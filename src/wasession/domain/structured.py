"""Structured settings (a ladder, business hours, a template) typed as text: the CLI's `key=value`
and a form field give JSON, the API gives the value itself."""

from __future__ import annotations

import json


def from_text(value: object) -> object:
    """`value` parsed as JSON when it is text that looks like a list or an object, else `value`."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            parsed: object = json.loads(value)
        except ValueError:
            return value
        return parsed
    return value

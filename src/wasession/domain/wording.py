"""Values in the words an error message uses ("between 1 minute and 90 days", never "PT1M")."""

from __future__ import annotations

import json
from datetime import timedelta

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(value: timedelta) -> str:
    """`timedelta(hours=23, minutes=55)` -> "23 hours 55 minutes"; whole seconds (fractions are dropped)."""
    left = int(value.total_seconds())
    if left <= 0:
        return "0 minutes"
    parts = []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts)


def given(value: object) -> str:
    """What the user gave, for "…; it was X": never an empty "got"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    if isinstance(value, timedelta):
        return duration_words(value)
    return f"'{value}'"


# Structured settings (a ladder, business hours, a template) typed as text: the CLI's `key=value`
# and a form field give JSON, the API gives the value itself.
def from_text(value: object) -> object:
    """`value` parsed as JSON when it is text that looks like a list or an object, else `value`."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            parsed: object = json.loads(value)
        except ValueError:
            return value
        return parsed
    return value

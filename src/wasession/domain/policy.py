"""A channel's session policy (§2): the settings, their validation and their stored form.

A Policy is only ever built through `validate_policy` (or `Policy()` defaults), so code that holds
one may trust every field; a refused change leaves the caller's Policy untouched because it is
frozen and a new one is returned on success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import time, timedelta

from wasession.domain import policy_fields as parse
from wasession.domain.durations import format_duration
from wasession.domain.errors import ValidationError
from wasession.domain.policy_fields import (
    MAX_CHECK_INTERVAL,
    MAX_TIMEOUT,
    MIN_CHECK_INTERVAL,
    MIN_TIMEOUT,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_CHECK_INTERVAL",
    "MAX_TIMEOUT",
    "MIN_CHECK_INTERVAL",
    "MIN_TIMEOUT",
    "POLICY_FIELDS",
    "Policy",
    "policy_errors",
    "policy_from_storage",
    "policy_to_storage",
    "validate_policy",
]

DEFAULT_TEMPLATE = "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know!"


@dataclass(frozen=True)
class Policy:
    session_timeout: timedelta = timedelta(hours=24)
    closure_check: timedelta | None = None  # None means "exact"
    closure_check_anchor: time = time(0, 0)
    reminder_enabled: bool = False
    reminder_after_hours: int = 23
    reminder_template: str = DEFAULT_TEMPLATE
    company_name: str = ""
    timezone: str = "UTC"
    automated_monthly_cap: int | None = None  # R17: None means no cap

    def to_public(self) -> dict[str, object]:
        return {
            "session_timeout": format_duration(self.session_timeout),
            "closure_check": "exact" if self.closure_check is None else format_duration(self.closure_check),
            "closure_check_anchor": self.closure_check_anchor.strftime("%H:%M"),
            "reminder_enabled": self.reminder_enabled,
            "reminder_after_hours": self.reminder_after_hours,
            "reminder_template": self.reminder_template,
            "company_name": self.company_name,
            "timezone": self.timezone,
            "automated_monthly_cap": self.automated_monthly_cap,
        }


POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Policy))

_PARSERS: dict[str, Callable[[object], object]] = {
    "session_timeout": parse.session_timeout,
    "closure_check": parse.closure_check,
    "closure_check_anchor": parse.closure_check_anchor,
    "reminder_enabled": parse.reminder_enabled,
    "reminder_after_hours": parse.reminder_after_hours,
    "reminder_template": parse.reminder_template,
    "company_name": parse.company_name,
    "timezone": parse.timezone,
    "automated_monthly_cap": parse.automated_monthly_cap,
}
_NULLABLE = frozenset({"closure_check", "automated_monthly_cap"})


def _parse_all(changes: Mapping[str, object], base: Policy | None) -> tuple[dict[str, object], list[ValidationError]]:
    merged: dict[str, object] = {name: getattr(base or Policy(), name) for name in POLICY_FIELDS}
    known = ", ".join(POLICY_FIELDS)
    errors = [
        ValidationError(str(key), f"'{key}' is not a policy setting; settings are {known}", "unknown_field")
        for key in changes
        if key not in _PARSERS
    ]
    values: dict[str, object] = {}
    # Unchanged base values are checked too, so a Policy built by hand cannot smuggle in a bad value.
    for name in POLICY_FIELDS:
        raw = changes.get(name, merged[name])
        if raw is None and name not in _NULLABLE:
            errors.append(ValidationError(name, f"{name} is required; got nothing", "required"))
            continue
        try:
            values[name] = _PARSERS[name](raw)
        except ValidationError as error:
            errors.append(error)
    template = values.get("reminder_template")
    if values.get("reminder_enabled") is True and isinstance(template, str) and not template.strip():
        errors.append(
            ValidationError(
                "reminder_template",
                f"reminder_template must not be empty while reminder_enabled is on; got {template!r}",
                "required",
            )
        )
    return values, errors


def _order(error: ValidationError) -> int:
    return POLICY_FIELDS.index(error.field) if error.field in POLICY_FIELDS else -1


def policy_errors(changes: Mapping[str, object], base: Policy | None = None) -> list[ValidationError]:
    """Every problem at once, unknown settings first, then in the order of POLICY_FIELDS."""
    return sorted(_parse_all(changes, base)[1], key=_order)


def validate_policy(changes: Mapping[str, object], base: Policy | None = None) -> Policy:
    """`base` (default `Policy()`) with `changes` applied, or the first problem raised."""
    values, errors = _parse_all(changes, base)
    if errors:
        raise min(errors, key=_order)
    return replace(base or Policy(), **values)  # type: ignore[arg-type]


def policy_to_storage(p: Policy) -> dict[str, object]:
    return p.to_public()


def policy_from_storage(d: Mapping[str, object]) -> Policy:
    """The inverse of policy_to_storage; settings missing from older rows take their defaults, and
    settings this version does not know (written by a newer one) are ignored."""
    return validate_policy({key: value for key, value in d.items() if key in POLICY_FIELDS})

"""A channel's session policy (§2): the settings, their validation and their stored form.

A Policy is only ever built through `validate_policy` (or `Policy()` defaults), so code that holds
one may trust every field; a refused change leaves the caller's Policy untouched because it is
frozen and a new one is returned on success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import time, timedelta
from decimal import Decimal

from wasession.domain import policy_fields
from wasession.domain.business_hours import ALWAYS_OPEN, BusinessHours, parse_business_hours
from wasession.domain.closing import TemplateRef, parse_closing_template
from wasession.domain.durations import format_duration
from wasession.domain.errors import ValidationError
from wasession.domain.ladder import ReminderStep, one_step, parse_steps
from wasession.domain.policy_fields import (
    MAX_CHECK_INTERVAL,
    MAX_TIMEOUT,
    MIN_CHECK_INTERVAL,
    MIN_TIMEOUT,
)
from wasession.domain.rates import format_amount
from wasession.domain.wording import duration_words

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
    # Policy v2 (issue 13). reminder_steps () is the one-step ladder at reminder_after_hours.
    reminder_steps: tuple[ReminderStep, ...] = ()
    reminder_only_when_awaiting_customer: bool = False
    closing_message: str = ""
    closing_template: TemplateRef | None = None
    timeout_from: str = "customer"
    hold_while_awaiting_agent: bool = False
    business_hours: BusinessHours = ALWAYS_OPEN
    reopen_within: timedelta = timedelta(0)
    automated_monthly_cap: int | None = None  # R23: None means no cap
    automated_monthly_budget: Decimal | None = None  # R23: in the rate card's currency; None means none
    read_receipts: bool = False  # issue 26: blue ticks and "typing…" on WhatsApp from the dashboard

    @property
    def ladder(self) -> tuple[ReminderStep, ...]:
        """The reminder steps in force (none while reminders are off)."""
        if not self.reminder_enabled:
            return ()
        return self.reminder_steps or one_step(self.reminder_after_hours)

    def step_template(self, step: int) -> str:
        """The text of step `step` (1-based): its own, else reminder_template."""
        steps = self.reminder_steps or one_step(self.reminder_after_hours)
        own = steps[step - 1].template if 0 < step <= len(steps) else None
        return own if own is not None else self.reminder_template

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
            "automated_monthly_budget": (
                None if self.automated_monthly_budget is None else format_amount(self.automated_monthly_budget)
            ),
            "read_receipts": self.read_receipts,
            "reminder_steps": [s.to_public() for s in self.reminder_steps or one_step(self.reminder_after_hours)],
            "reminder_only_when_awaiting_customer": self.reminder_only_when_awaiting_customer,
            "closing_message": self.closing_message,
            "closing_template": self.closing_template.to_public() if self.closing_template else None,
            "timeout_from": self.timeout_from,
            "hold_while_awaiting_agent": self.hold_while_awaiting_agent,
            "business_hours": self.business_hours.to_public(),
            "reopen_within": format_duration(self.reopen_within),
        }


POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Policy))

_PARSERS: dict[str, Callable[[object], object]] = {
    "session_timeout": policy_fields.session_timeout,
    "closure_check": policy_fields.closure_check,
    "closure_check_anchor": policy_fields.closure_check_anchor,
    "reminder_enabled": policy_fields.reminder_enabled,
    "reminder_after_hours": policy_fields.reminder_after_hours,
    "reminder_template": policy_fields.reminder_template,
    "company_name": policy_fields.company_name,
    "timezone": policy_fields.timezone,
    "reminder_steps": parse_steps,
    "reminder_only_when_awaiting_customer": policy_fields.reminder_only_when_awaiting_customer,
    "closing_message": policy_fields.closing_message,
    "closing_template": parse_closing_template,
    "timeout_from": policy_fields.timeout_from,
    "hold_while_awaiting_agent": policy_fields.hold_while_awaiting_agent,
    "business_hours": parse_business_hours,
    "reopen_within": policy_fields.reopen_within,
    "automated_monthly_cap": policy_fields.automated_monthly_cap,
    "automated_monthly_budget": policy_fields.automated_monthly_budget,
    "read_receipts": policy_fields.read_receipts,
}
_NULLABLE = frozenset(
    {"closure_check", "closing_template", "business_hours", "automated_monthly_cap", "automated_monthly_budget"}
)


def _parse_all(changes: Mapping[str, object], base: Policy | None) -> tuple[dict[str, object], list[ValidationError]]:
    merged: dict[str, object] = {name: getattr(base or Policy(), name) for name in POLICY_FIELDS}
    known = ", ".join(POLICY_FIELDS)
    errors = [
        ValidationError(str(key), f"'{key}' is not a policy setting; settings are {known}", "unknown_field")
        for key in changes
        if key not in _PARSERS
    ]
    values: dict[str, object] = {}
    if "reminder_after_hours" in changes and "reminder_steps" not in changes:
        merged["reminder_steps"] = ()  # a new reminder_after_hours replaces the ladder with its one step
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
    errors.extend(_clashes(values))
    _one_reading(values)
    template = values.get("reminder_template")
    if values.get("reminder_enabled") is True and isinstance(template, str) and not template.strip():
        errors.append(
            ValidationError(
                "reminder_template",
                "reminder_template must not be empty while reminder_enabled is on; it was empty",
                "required",
            )
        )
    return values, errors


def _one_reading(values: dict[str, object]) -> None:
    """reminder_steps wins over reminder_after_hours, and both read consistently: a ladder that is one
    whole-hour step is stored as that reminder_after_hours, and any other ladder shows its first step's
    hour there."""
    steps = values.get("reminder_steps")
    if not isinstance(steps, tuple) or not steps:
        return
    first = steps[0]
    hours = int(first.offset.total_seconds() // 3600)
    if len(steps) == 1 and first.template is None and first.after == timedelta(hours=hours) and 1 <= hours <= 23:
        values["reminder_steps"] = ()
    values["reminder_after_hours"] = min(max(hours, 1), 23)


def _clashes(values: Mapping[str, object]) -> list[ValidationError]:
    """Combinations that cannot work, refused with the clash named."""
    steps = values.get("reminder_steps")
    hours = values.get("reminder_after_hours")
    timeout = values.get("session_timeout")
    if values.get("reminder_enabled") is not True or not isinstance(timeout, timedelta):
        return []
    if steps == () and isinstance(hours, int):
        steps = one_step(hours)
        field = "reminder_after_hours"
    else:
        field = "reminder_steps"
    if not isinstance(steps, tuple):
        return []
    for n, step in enumerate(steps, start=1):
        if step.offset >= timeout:
            what = f"step {n} of reminder_steps" if field == "reminder_steps" else "the reminder"
            return [
                ValidationError(
                    field,
                    f"{field}: {what} falls due {duration_words(step.offset)} after the customer's message, at or "
                    f"after the session_timeout of {duration_words(timeout)}: the session would close first and the "
                    "reminder could never go out",
                    "clash",
                )
            ]
    return []


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
    # The ladder is stored only when set, so a policy that names none keeps following reminder_after_hours.
    return {**p.to_public(), "reminder_steps": [s.to_public() for s in p.reminder_steps]}


def policy_from_storage(d: Mapping[str, object]) -> Policy:
    """The inverse of policy_to_storage; settings missing from older rows take their defaults, and
    settings this version does not know (written by a newer one) are ignored."""
    return validate_policy({key: value for key, value in d.items() if key in POLICY_FIELDS})

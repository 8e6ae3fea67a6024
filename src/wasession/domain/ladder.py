"""The reminder ladder (issue 13): one to three steps, each at a time measured from T or back from the
window's close, each with an optional template of its own. One step at `reminder_after_hours` is the
ladder a policy has when it names no steps, so one code path serves one step and three."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from wasession.domain.durations import format_duration, parse_duration
from wasession.domain.errors import ValidationError
from wasession.domain.template import parse_template
from wasession.domain.wording import duration_words, from_text, given

WINDOW = timedelta(hours=24)
SPARE = timedelta(minutes=5)  # R6: a step must land at least this long before the window closes
MAX_STEPS = 3
AFTER_RANGE = (timedelta(minutes=1), WINDOW - SPARE)
BEFORE_RANGE = (SPARE, WINDOW - timedelta(minutes=1))
FIELD = "reminder_steps"


@dataclass(frozen=True)
class ReminderStep:
    """`after` T, or `before_window_closes` (exactly one is set); `template` None uses reminder_template."""

    after: timedelta | None = None
    before_window_closes: timedelta | None = None
    template: str | None = None

    @property
    def offset(self) -> timedelta:
        """When the step falls due, measured from T."""
        if self.after is not None:
            return self.after
        assert self.before_window_closes is not None
        return WINDOW - self.before_window_closes

    def to_public(self) -> dict[str, object]:
        shown: dict[str, object] = (
            {"after": format_duration(self.after)}
            if self.after is not None
            else {"before_window_closes": format_duration(self.before_window_closes or SPARE)}
        )
        if self.template is not None:
            shown["template"] = self.template
        return shown


@cache  # the ladder of every session of a channel, several times a reminder: one tuple per hour count
def one_step(after_hours: int) -> tuple[ReminderStep, ...]:
    return (ReminderStep(after=timedelta(hours=after_hours)),)


def parse_steps(value: object) -> tuple[ReminderStep, ...]:
    """Steps as the API, the dashboard and the CLI give them (a list of objects); an empty list means
    "one step at reminder_after_hours"."""
    value = from_text(value)
    if isinstance(value, tuple) and all(isinstance(s, ReminderStep) for s in value):
        value = [s.to_public() for s in value]
    if not isinstance(value, list | tuple):
        raise ValidationError(
            FIELD,
            f'{FIELD} must be a list of 1 to {MAX_STEPS} steps like [{{"after": "23h"}}]; it was {given(value)}',
            "invalid_type",
        )
    if len(value) > MAX_STEPS:
        raise ValidationError(FIELD, f"{FIELD} may have at most {MAX_STEPS} steps; it had {len(value)}", "too_long")
    steps = tuple(_step(n, raw) for n, raw in enumerate(value, start=1))
    for n in range(1, len(steps)):
        if steps[n].offset <= steps[n - 1].offset:
            raise ValidationError(
                FIELD,
                f"{FIELD}: step {n + 1} ({duration_words(steps[n].offset)} after the customer's message) must come "
                f"after step {n} ({duration_words(steps[n - 1].offset)}); steps go in order of time",
                "out_of_order",
            )
    return steps


def _step(n: int, raw: object) -> ReminderStep:
    where = f"{FIELD}: step {n}"
    if not isinstance(raw, dict):
        raise ValidationError(
            FIELD, f'{where} must be an object like {{"after": "23h"}}; it was {given(raw)}', "invalid_type"
        )
    unknown = sorted(set(raw) - {"after", "before_window_closes", "template"})
    if unknown:
        raise ValidationError(
            FIELD,
            f"{where} has unknown key {unknown[0]!r}; a step has 'after' or 'before_window_closes', and 'template'",
            "unknown_field",
        )
    if ("after" in raw) == ("before_window_closes" in raw):
        raise ValidationError(FIELD, f"{where} needs exactly one of 'after' or 'before_window_closes'", "required")
    key = "after" if "after" in raw else "before_window_closes"
    low, high = AFTER_RANGE if key == "after" else BEFORE_RANGE
    allowed = f"between {duration_words(low)} and {duration_words(high)}"
    value = raw[key]
    try:
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            raise ValueError
        at = parse_duration(value, field=FIELD)
    except (ValidationError, ValueError):
        raise ValidationError(
            FIELD,
            f"{where}: {key} must be a duration {allowed}, like 30m or 2h; it was {given(value)}",
            "invalid_duration",
        ) from None
    if not low <= at <= high:
        raise ValidationError(FIELD, f"{where}: {key} must be {allowed}; it was {duration_words(at)}", "out_of_range")
    template = raw.get("template")
    if template is not None:
        if not isinstance(template, str):
            raise ValidationError(FIELD, f"{where}: template must be text; it was {given(template)}", "invalid_type")
        if not template.strip():
            template = None  # an empty step text falls back to reminder_template
        else:
            parse_template(template, field=FIELD)
    return (
        ReminderStep(after=at, template=template)
        if key == "after"
        else ReminderStep(before_window_closes=at, template=template)
    )

"""Durations as users type them (ISO 8601 or short forms) and as the API returns them (ISO 8601).

Days and weeks are taken as exactly 24 h and 7 × 24 h. Months and years are refused because their
length depends on where they start. Only seconds may carry a fraction (`PT0.5S`, `1.5s`).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal

from wasession.domain.errors import ValidationError

_SECONDS = r"(?:(?P<s>\d+(?:[.,]\d+)?)S)?"
# re.ASCII throughout: int() would also accept digits from other scripts.
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?" + _SECONDS + r")?",
    re.ASCII,
)
# Short forms may separate their parts with spaces ("1h 30m"), as people do when typing.
_SHORT = re.compile(
    r"(?:(?P<w>\d+)\s*W\s*)?(?:(?P<d>\d+)\s*D\s*)?(?:(?P<h>\d+)\s*H\s*)?"
    r"(?:(?P<m>\d+)\s*M\s*)?(?:(?P<s>\d+(?:\.\d+)?)\s*S)?",
    re.ASCII,
)
_CALENDAR_UNITS = re.compile(r"P[^T]*\d[YM]", re.ASCII)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}


def duration_error(field: str, value: object, hint: str = "") -> ValidationError:
    """The standard refusal, for callers that screen values before parse_duration sees them."""
    said = "it was empty" if value is None or not str(value).strip() else f"'{value}' is not a duration"
    return ValidationError(
        field,
        f"{field}: {said}; use ISO 8601 like PT24H or P1D, or a short form like 90s, 30m, 24h, 1d, 1h30m{hint}",
        code="invalid_duration",
    )


def _negative(field: str, value: object) -> ValidationError:
    return ValidationError(field, f"{field} must not be negative; got {value}", code="out_of_range")


def _from_match(match: re.Match[str]) -> timedelta | None:
    parts = match.groupdict()
    if all(v is None for v in parts.values()):
        return None
    micros = 0
    for unit, per in _UNIT_SECONDS.items():
        if parts[unit] is not None:
            micros += int(parts[unit]) * per * 1_000_000
    if parts["s"] is not None:
        micros += int((Decimal(parts["s"].replace(",", ".")) * 1_000_000).to_integral_value())
    return timedelta(microseconds=micros)


def _parse_text(text: str, field: str, original: object) -> timedelta:
    upper = text.strip().upper()
    negative = upper.startswith("-")
    body = upper[1:].lstrip() if negative else upper
    match = (_ISO if body.startswith("P") else _SHORT).fullmatch(body)
    parsed = _from_match(match) if match else None
    if parsed is None:
        calendar = _CALENDAR_UNITS.match(body)
        hint = " (months and years are refused because their length varies)" if calendar else ""
        raise duration_error(field, original, hint)
    if negative and parsed:
        raise _negative(field, original)
    return parsed


def parse_duration(value: str | int | float | timedelta, *, field: str) -> timedelta:
    """A duration from user input; numbers are seconds, a timedelta passes through."""
    try:
        if isinstance(value, timedelta):
            result = value
        elif isinstance(value, bool):
            raise duration_error(field, value)
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise duration_error(field, value)
            result = timedelta(seconds=value)
        elif isinstance(value, str):
            result = _parse_text(value, field, value)
        else:
            raise duration_error(field, value)
    except OverflowError:
        message = f"{field}: '{value}' is far too long a duration"
        raise ValidationError(field, message, "out_of_range") from None
    if result < timedelta(0):
        shown = "-" + format_duration(-result) if isinstance(value, timedelta) else value
        raise _negative(field, shown)
    return result


def format_duration(value: timedelta) -> str:
    """Canonical ISO 8601: days, then hours, minutes and seconds; never weeks, months or years."""
    if value < timedelta(0):
        raise ValueError(f"cannot format a negative duration: {value}")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    date = f"{value.days}D" if value.days else ""
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if value.microseconds:
        time += f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S"
    elif seconds:
        time += f"{seconds}S"
    if not date and not time:
        return "PT0S"
    return "P" + date + ("T" + time if time else "")


def doubling(attempts: int, first: timedelta, most: timedelta) -> timedelta:
    """The wait after the `attempts`-th failure: `first`, then twice as long each time, at most `most`."""
    doublings = min(max(0, attempts - 1), 16)  # bounded so the multiplication never overflows
    return min(first * (1 << doublings), most)

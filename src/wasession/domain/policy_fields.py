"""One parser per policy setting: user input in, typed value out, or a ValidationError whose message
names the field, what is allowed in words ("between 1 minute and 90 days") and what was given."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from difflib import get_close_matches
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from wasession.domain.durations import duration_error, parse_duration
from wasession.domain.errors import ValidationError
from wasession.domain.template import MAX_TEXT_LENGTH, parse_template
from wasession.domain.wording import duration_words, given

MIN_TIMEOUT = timedelta(minutes=1)
MAX_TIMEOUT = timedelta(days=90)
MIN_CHECK_INTERVAL = timedelta(minutes=1)
MAX_CHECK_INTERVAL = timedelta(hours=24)
MAX_COMPANY_NAME = 200

_TRUE = frozenset({"true", "on", "1", "yes"})
_FALSE = frozenset({"false", "off", "0", "no"})
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})", re.ASCII)
_WHOLE = re.compile(r"\d+", re.ASCII)
# Present in the tz database directory but not zone names: they follow the host's setting.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


def _shown(value: object) -> str:
    """An out-of-range value as the user typed it ("59s"), a timedelta in words."""
    if isinstance(value, timedelta) and value >= timedelta(0):
        return duration_words(value)
    return str(value) if str(value).strip() else "empty"


def session_timeout(value: object) -> timedelta:
    parsed = _duration("session_timeout", value)
    if not MIN_TIMEOUT <= parsed <= MAX_TIMEOUT:
        raise ValidationError(
            "session_timeout",
            f"session_timeout must be between 1 minute and 90 days; it was {_shown(value)}",
            "out_of_range",
        )
    return parsed


def closure_check(value: object) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "exact"):
        return None
    allowed = "'exact' or an interval between 1 minute and 24 hours"
    try:
        parsed = _duration("closure_check", value)
    except ValidationError as error:
        if error.code != "invalid_duration":
            raise
        raise ValidationError(
            "closure_check", f"closure_check must be {allowed}; it was {given(value)}", "invalid_duration"
        ) from None
    if not MIN_CHECK_INTERVAL <= parsed <= MAX_CHECK_INTERVAL:
        message = f"closure_check must be {allowed}; it was {_shown(value)}"
        raise ValidationError("closure_check", message, "out_of_range")
    return parsed


def closure_check_anchor(value: object) -> time:
    allowed = "a time of day HH:MM from 00:00 to 23:59"
    if isinstance(value, time):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise ValidationError(
                "closure_check_anchor",
                f"closure_check_anchor must be {allowed} (whole minutes, no time zone); it was {value.isoformat()}",
                "invalid_type",
            )
        return value
    match = _HH_MM.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(
            "closure_check_anchor", f"closure_check_anchor must be {allowed}; it was {given(value)}", "invalid_type"
        )
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValidationError(
            "closure_check_anchor", f"closure_check_anchor must be {allowed}; it was {given(value)}", "out_of_range"
        )
    return time(hour, minute)


def boolean(field: str) -> Callable[[object], bool]:
    def parse(value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
        raise ValidationError(
            field, f"{field} must be true or false (also on/off, 1/0); it was {given(value)}", "invalid_type"
        )

    return parse


reminder_enabled = boolean("reminder_enabled")


def reminder_after_hours(value: object) -> int:
    # bool is an int subclass, and True silently meaning 1 hour would hide a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        hours: int | None = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        hours = int(value.strip())
    else:
        hours = None
    if hours is None or not 1 <= hours <= 23:
        raise ValidationError(
            "reminder_after_hours",
            f"reminder_after_hours must be a whole number of hours from 1 to 23; it was {given(value)}",
            "invalid_type" if hours is None else "out_of_range",
        )
    return hours


def reminder_template(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            "reminder_template",
            f"reminder_template must be text of at most {MAX_TEXT_LENGTH} characters; it was {given(value)}",
            "invalid_type",
        )
    parse_template(value, field="reminder_template")
    return value


def company_name(value: object) -> str:
    if not isinstance(value, str):
        message = f"company_name must be text of at most {MAX_COMPANY_NAME} characters; it was {given(value)}"
        raise ValidationError("company_name", message, "invalid_type")
    if len(value) > MAX_COMPANY_NAME:
        raise ValidationError(
            "company_name",
            f"company_name must be at most {MAX_COMPANY_NAME} characters; it had {len(value)} ('{value[:40]}…')",
            "too_long",
        )
    return value


def timezone(value: object) -> str:
    if not isinstance(value, str):
        message = f"timezone must be an IANA time zone name like Europe/Lisbon; it was {given(value)}"
        raise ValidationError("timezone", message, "invalid_type")
    name = value.strip()
    try:
        if name in _NOT_ZONES:
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        near = _near_zone(name)
        hint = f"; did you mean {near}?" if near else " (like UTC, Europe/Lisbon, America/New_York)"
        message = f"timezone {given(value)} is not a known IANA time zone name{hint}"
        raise ValidationError("timezone", message, "invalid_timezone") from None
    return name


MAX_MONTHLY_CAP = 10_000_000


def automated_monthly_cap(value: object) -> int | None:
    """R23: how many automated sends (reminders, closing messages) a channel may make per calendar month."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        cap: int | None = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        cap = int(value.strip())
    else:
        cap = None
    if cap is None or not 0 <= cap <= MAX_MONTHLY_CAP:
        raise ValidationError(
            "automated_monthly_cap",
            f"automated_monthly_cap must be a whole number from 0 to {MAX_MONTHLY_CAP}, or null for no cap; "
            f"it was {given(value)}",
            "invalid_type" if cap is None else "out_of_range",
        )
    return cap


MAX_MONTHLY_BUDGET = Decimal(1_000_000_000)


def automated_monthly_budget(value: object) -> Decimal | None:
    """R23: the most the automated sends of a calendar month may cost, in the rate card's currency."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    amount: Decimal | None = value if isinstance(value, Decimal) else None  # a stored policy re-validated
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
    valid = amount is not None and amount.is_finite()
    exponent = amount.as_tuple().exponent if amount is not None and valid else 0
    if (
        amount is None
        or not valid
        or not 0 <= amount <= MAX_MONTHLY_BUDGET
        or (isinstance(exponent, int) and exponent < -4)
    ):
        raise ValidationError(
            "automated_monthly_budget",
            "automated_monthly_budget must be an amount from 0 to 1000000000 with at most 4 decimals, in the rate "
            f"card's currency, or null for no budget; it was {given(value)}",
            "invalid_type" if amount is None or not valid else "out_of_range",
        )
    return amount


def _near_zone(name: str) -> str | None:
    """The zone a near miss meant: the same name in other case or with spaces for _, else the closest."""
    zones = available_timezones()
    folded = {z.lower(): z for z in zones}
    key = name.strip().lower().replace(" ", "_")
    if key in folded:
        return folded[key]
    close = get_close_matches(key, list(folded), n=1, cutoff=0.8)
    return folded[close[0]] if close else None


timeout_from_values = ("customer", "last_message")


def timeout_from(value: object) -> str:
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in timeout_from_values:
        raise ValidationError(
            "timeout_from",
            f"timeout_from must be customer (the customer's last message) or last_message (the later of the "
            f"customer's and a human agent's last message); it was {given(value)}",
            "invalid_choice",
        )
    return word


reminder_only_when_awaiting_customer = boolean("reminder_only_when_awaiting_customer")
hold_while_awaiting_agent = boolean("hold_while_awaiting_agent")
# Issue 26: an agent opening a chat marks the customer's last message read on WhatsApp (blue ticks), and
# typing in the reply box shows Meta's typing indicator. Off by default: customers then see when a human
# has read them, which a business may not want.
read_receipts = boolean("read_receipts")
MAX_REOPEN_WITHIN = timedelta(days=7)


def reopen_within(value: object) -> timedelta:
    if value in (0, "0"):
        return timedelta(0)  # "off", as people type it
    try:
        parsed = _duration("reopen_within", value)
    except ValidationError:
        parsed = None
    if parsed is None or parsed > MAX_REOPEN_WITHIN:
        shown = given(value) if parsed is None else duration_words(parsed)
        raise ValidationError(
            "reopen_within",
            f"reopen_within must be a duration between 0 and 7 days, like 2h or 1d (0 turns it off); it was {shown}",
            "out_of_range" if parsed is not None else "invalid_duration",
        )
    return parsed


def closing_message(value: object) -> str:
    if not isinstance(value, str):
        message = f"closing_message must be text of at most {MAX_TEXT_LENGTH} characters; it was {given(value)}"
        raise ValidationError("closing_message", message, "invalid_type")
    parse_template(value, field="closing_message")
    return value


def _duration(field: str, value: object) -> timedelta:
    if not isinstance(value, str | int | float | timedelta):
        raise duration_error(field, value)
    return parse_duration(value, field=field)

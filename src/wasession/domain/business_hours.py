"""Business hours (issue 13): weekday ranges on the channel's wall clock, when reminder steps may go out.

`{"mon-fri": ["09:00-18:00"], "sat": ["10:00-13:00"]}`; days not named are closed; empty means always
open. Ranges are within one day (end after start, "24:00" for midnight) and may not overlap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from wasession.domain.errors import ValidationError
from wasession.domain.localtime import wall_to_utc, zone
from wasession.domain.wording import from_text, given

FIELD = "business_hours"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", re.ASCII)
_EXAMPLE = '{"mon-fri": ["09:00-18:00"], "sat": ["10:00-13:00"]}'

Minutes = tuple[int, int]  # [start, end) in minutes after local midnight


@dataclass(frozen=True)
class BusinessHours:
    days: tuple[tuple[Minutes, ...], ...] = ((), (), (), (), (), (), ())  # Monday first

    @property
    def always_open(self) -> bool:
        return not any(self.days)

    def to_public(self) -> dict[str, list[str]]:
        return {DAYS[d]: [f"{_hhmm(a)}-{_hhmm(b)}" for a, b in ranges] for d, ranges in enumerate(self.days) if ranges}

    def is_open(self, at: datetime, tz: str) -> bool:
        if self.always_open:
            return True
        wall = at.astimezone(zone(tz))
        minute = wall.hour * 60 + wall.minute
        return any(a <= minute < b for a, b in self.days[wall.weekday()])

    def next_opening(self, at: datetime, tz: str) -> datetime | None:
        """`at` if open then, else the first opening after it (None if the week has no hours)."""
        if self.is_open(at, tz):
            return at
        zi = zone(tz)
        wall = at.astimezone(zi).replace(tzinfo=None)
        for ahead in range(8):
            day: date = wall.date() + timedelta(days=ahead)
            for start, _ in self.days[day.weekday()]:
                opening = datetime.combine(day, time()) + timedelta(minutes=start)
                if opening > wall:
                    return wall_to_utc(opening, zi)
        return None


ALWAYS_OPEN = BusinessHours()


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_business_hours(value: object) -> BusinessHours:
    value = from_text(value)
    if isinstance(value, BusinessHours):
        return value
    if value is None or value == "":
        return BusinessHours()
    if not isinstance(value, Mapping):
        raise ValidationError(
            FIELD, f"{FIELD} must be weekday ranges like {_EXAMPLE}, or empty; it was {given(value)}", "invalid_type"
        )
    days: list[list[Minutes]] = [[] for _ in DAYS]
    for key, ranges in value.items():
        for d in _days(str(key)):
            days[d].extend(_ranges(str(key), ranges))
    for d, found in enumerate(days):
        found.sort()
        for (_, end), (start, _) in pairwise(found):
            if start < end:
                raise ValidationError(FIELD, f"{FIELD}: the hours given for {DAYS[d]} overlap", "overlap")
    return BusinessHours(tuple(tuple(found) for found in days))


def _days(key: str) -> list[int]:
    names = key.strip().lower().split("-")
    if len(names) in (1, 2) and all(n in DAYS for n in names):
        first, last = DAYS.index(names[0]), DAYS.index(names[-1])
        if first <= last:
            return list(range(first, last + 1))
    raise ValidationError(
        FIELD,
        f"{FIELD}: {key!r} is not a weekday or a range of them; use mon, tue, wed, thu, fri, sat, sun or a range "
        "like mon-fri",
        "invalid_day",
    )


def _ranges(key: str, ranges: object) -> list[Minutes]:
    if isinstance(ranges, str):
        ranges = [ranges]
    if not isinstance(ranges, list | tuple):
        raise ValidationError(
            FIELD, f'{FIELD}: {key} must list time ranges like ["09:00-18:00"]; it was {given(ranges)}', "invalid_type"
        )
    parsed = []
    for raw in ranges:
        match = _RANGE.fullmatch(raw.strip()) if isinstance(raw, str) else None
        start = int(match[1]) * 60 + int(match[2]) if match else -1
        end = int(match[3]) * 60 + int(match[4]) if match else -1
        if match is None or int(match[2]) > 59 or int(match[4]) > 59 or not 0 <= start < end <= 24 * 60:
            raise ValidationError(
                FIELD,
                f"{FIELD}: {key} has {given(raw)}; a range is HH:MM-HH:MM within one day, its end after its start "
                "(24:00 for midnight)",
                "invalid_range",
            )
        parsed.append((start, end))
    return parsed

"""Wall-clock time in a zone, mapped to instants so that the map never runs backwards.

`wall_to_utc` resolves a wall time that does not exist (spring forward) to the first real instant
after the gap, and one that happens twice (fall back) to its first occurrence. That map is
non-decreasing in the wall time, which is what lets `schedule.next_tick` search wall times and still
promise a tick at or after a given instant. Offsets change only at whole-second transitions (the
tz database stores seconds), so a transition is found by bisecting seconds: at most ~30 steps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset(instant: datetime, tz: tzinfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _transition(before: datetime, after: datetime, tz: tzinfo) -> datetime:
    """The instant in (before, after] where the offset stops being the one in force at `before`."""
    old = _offset(before, tz)
    lo = (before - _EPOCH) // _SECOND
    hi = -((_EPOCH - after) // _SECOND)  # ceil
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(_EPOCH + mid * _SECOND, tz) == old:
            lo = mid
        else:
            hi = mid
    return _EPOCH + hi * _SECOND


def wall_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """The instant of a naive wall time in `tz` (gap: first instant after it; fold: first pass)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # Nonexistent: the two folds straddle the transition, which is where the wall clock resumes.
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _transition(min(first, other), max(first, other), tz)


def earliest_wall_reaching(at: datetime, tz: tzinfo) -> datetime:
    """The smallest naive wall time W with wall_to_utc(W) >= at."""
    local = at.astimezone(tz)
    wall = local.replace(tzinfo=None, fold=0)
    now_offset = local.utcoffset()
    if local.fold == 1:
        # Second pass through a repeated hour: its wall times resolve to the first pass, already
        # behind us, so the earliest wall time that reaches `at` is the one ending the repetition.
        first_offset = local.replace(fold=0).utcoffset()
        assert first_offset is not None and now_offset is not None
        start = _transition(at - (first_offset - now_offset), at, tz)
        return (start + first_offset).replace(tzinfo=None)
    previous = _offset(at - _SECOND, tz)
    if at.microsecond == 0 and previous is not None and now_offset is not None and previous < now_offset:
        # `at` is the instant a gap ends: every wall time inside the gap resolves to it.
        return (at + previous).replace(tzinfo=None)
    return wall

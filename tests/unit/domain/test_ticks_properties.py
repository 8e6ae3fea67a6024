"""Properties of next_tick against a brute-force reference, across zones with DST and odd offsets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wasession.domain.schedule import next_tick

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Santiago",
    "Pacific/Apia",
    "Europe/London",
]
_instants = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
_intervals = st.integers(min_value=1, max_value=24 * 60).map(lambda m: timedelta(minutes=m))
_anchors = st.builds(time, st.integers(0, 23), st.integers(0, 59))
_zones = st.sampled_from(ZONES)
_near_transitions = st.sampled_from(
    [
        datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York spring
        datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York autumn
        datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin / London spring
        datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin / London autumn
        datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe autumn
        datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe spring
        datetime(2011, 12, 30, 10, tzinfo=UTC),  # Samoa skips a day
    ]
).flatmap(lambda t: st.integers(-2 * 3600, 2 * 3600).map(lambda s: t + timedelta(seconds=s)))
# Half the examples sit within two hours of a real DST change, where the tricky cases live.
_ats = _instants | _near_transitions


def _resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """Reference: a missing wall time moves forward minute by minute until the clock shows it."""
    instant = wall.replace(tzinfo=tz).astimezone(UTC)
    while instant.astimezone(tz).replace(tzinfo=None) != wall:
        wall = (wall + timedelta(minutes=1)).replace(second=0, microsecond=0)
        instant = wall.replace(tzinfo=tz).astimezone(UTC)
    return instant


def _reference(at: datetime, interval: timedelta, anchor: time, name: str) -> datetime:
    tz = ZoneInfo(name)
    local_day = at.astimezone(tz).date()
    best: datetime | None = None
    for offset in (-2, -1, 0, 1, 2):
        start = datetime.combine(local_day + timedelta(days=offset), anchor)
        wall = start
        while wall < start + timedelta(days=1):
            instant = _resolve(wall, tz)
            if instant >= at and (best is None or instant < best):
                best = instant
            wall += interval
    assert best is not None
    return best


@settings(max_examples=300, deadline=None)
@given(_ats, _intervals, _anchors, _zones)
def test_next_tick_is_at_or_after_and_a_fixed_point(at: datetime, interval: timedelta, anchor: time, tz: str) -> None:
    tick = next_tick(at, interval, anchor, tz)
    assert tick >= at and tick.tzinfo is UTC
    assert next_tick(tick, interval, anchor, tz) == tick
    assert tick - at <= interval + timedelta(hours=3)  # DST shifts aside, the gap is at most one interval


@settings(max_examples=300, deadline=None)
@given(_ats, st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=6)), _intervals, _anchors, _zones)
def test_next_tick_is_monotone(at: datetime, later: timedelta, interval: timedelta, anchor: time, tz: str) -> None:
    assert next_tick(at, interval, anchor, tz) <= next_tick(at + later, interval, anchor, tz)


@settings(max_examples=250, deadline=None)
@given(
    _ats,
    st.integers(min_value=15, max_value=24 * 60).map(lambda m: timedelta(minutes=m)),
    _anchors,
    _zones,
)
def test_next_tick_matches_brute_force(at: datetime, interval: timedelta, anchor: time, tz: str) -> None:
    assert next_tick(at, interval, anchor, tz) == _reference(at, interval, anchor, tz)

"""Clocks and turning outside time values into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wasession.domain.clock import Clock, ManualClock, SystemClock, from_unix, parse_instant
from wasession.domain.errors import ValidationError

MONDAY = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def test_validation_error_carries_field_code_and_message() -> None:
    error = ValidationError("timezone", "timezone 'Mars/Base' is not known", code="invalid_timezone")
    assert isinstance(error, ValueError)
    assert (error.field, error.code, error.message) == ("timezone", "invalid_timezone", str(error))
    assert str(error) == "timezone 'Mars/Base' is not known"
    assert ValidationError("x", "bad").code == "invalid"


def test_system_clock_is_aware_utc_and_a_clock() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert isinstance(SystemClock(), Clock) and isinstance(ManualClock(MONDAY), Clock)


@pytest.mark.parametrize(
    "start",
    [
        "2026-01-05T15:00:00Z",
        "2026-01-05T15:00:00+00:00",
        "2026-01-05T16:00:00+01:00",
        " 2026-01-05T15:00Z ",
        MONDAY,
    ],
)
def test_manual_clock_starts_from_iso_or_datetime(start: str | datetime) -> None:
    clock = ManualClock(start)
    assert clock.now() == MONDAY and clock.now().tzinfo is UTC


@pytest.mark.parametrize("start", ["2026-01-05T15:00:00", datetime(2026, 1, 5, 15), "2026-01-05"])
def test_manual_clock_refuses_naive_start(start: str | datetime) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        ManualClock(start)


def test_manual_clock_advances_and_sets_but_never_goes_back() -> None:
    clock = ManualClock(MONDAY)
    assert clock.advance(timedelta(hours=1)) == MONDAY + timedelta(hours=1) == clock.now()
    assert clock.advance(timedelta(0)) == MONDAY + timedelta(hours=1)
    clock.set(MONDAY + timedelta(days=1))
    assert clock.now() == MONDAY + timedelta(days=1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(MONDAY)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2027, 1, 1))  # naive
    assert clock.now() == MONDAY + timedelta(days=1)


def test_parse_instant_normalises_offsets_to_utc() -> None:
    parsed = parse_instant("2026-01-05T10:00:00-05:00")
    assert parsed == MONDAY and parsed.tzinfo is UTC
    other = parse_instant(datetime(2026, 1, 5, 20, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))))
    assert other == MONDAY and other.tzinfo is UTC


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-01T00:00:00Z", "1697043223"])
def test_parse_instant_refuses_nonsense_naming_it(value: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_instant(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("1697043223", datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)),
        (1697043223, datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)),
        (" 1697043223 ", datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)),
        ("1697043223.5", datetime(2023, 10, 11, 16, 53, 43, 500000, tzinfo=UTC)),
        (1697043223.25, datetime(2023, 10, 11, 16, 53, 43, 250000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_from_unix(ts: int | float | str, expected: datetime) -> None:
    result = from_unix(ts)
    assert result == expected and result.tzinfo is UTC


@pytest.mark.parametrize("ts", ["", "abc", "12:00", "-5", -1, float("nan"), float("inf"), True, "1e30"])
def test_from_unix_refuses_bad_values(ts: int | float | str) -> None:
    with pytest.raises(ValueError):
        from_unix(ts)

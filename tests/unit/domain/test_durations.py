"""parse_duration / format_duration: the forms §2 accepts and the canonical ISO 8601 returned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasession.domain.durations import format_duration, parse_duration
from wasession.domain.errors import ValidationError

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT24H", 24 * H),
        ("P1D", D),
        ("P1DT2H30M", D + 2 * H + 30 * M),
        ("PT90S", 90 * S),
        ("PT1M", M),  # one minute, not one month
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT0,25S", timedelta(milliseconds=250)),
        ("P2W", 14 * D),
        ("P1W1D", 8 * D),
        ("PT0S", timedelta(0)),
        ("P0D", timedelta(0)),
        ("90s", 90 * S),
        ("30m", 30 * M),
        ("24h", 24 * H),
        ("1d", D),
        ("2w", 14 * D),
        ("1h30m", 90 * M),
        ("23h59m59s", 24 * H - S),
        ("1d12h", 36 * H),
        ("1w2d3h4m5s", 9 * D + 3 * H + 4 * M + 5 * S),
        ("1.5s", timedelta(milliseconds=1500)),
        ("0s", timedelta(0)),
        ("pt24h", 24 * H),
        ("1H30M", 90 * M),
        ("  24h\t", 24 * H),
        (" P1D ", D),
        ("1h 30m", 90 * M),
    ],
)
def test_accepted_text_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text, field="session_timeout") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(90, 90 * S), (0, timedelta(0)), (1.5, timedelta(milliseconds=1500)), (2 * H, 2 * H)],
)
def test_numbers_are_seconds_and_timedeltas_pass_through(value: int | float | timedelta, expected: timedelta) -> None:
    assert parse_duration(value, field="x") == expected


@pytest.mark.parametrize(
    "text",
    [
        "P1M",
        "P1Y",
        "P1Y2M",
        "p3m",
        "P",
        "PT",
        "P1DT",
        "PT1.5H",
        "1.5h",
        "30m1h",
        "1h1h",
        "1m1h",
        "abc",
        "",
        "   ",
        "90",
        "1 day",
        "24 hours",
        "h",
        "PT24",
        "T24H",
        "P1D2H",
        "1d-2h",
        "1e3s",
        "٣٠m",  # Arabic-Indic digits
    ],
)
def test_refused_text_forms_use_the_standard_message(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(text, field="session_timeout")
    error = info.value
    assert error.field == "session_timeout" and error.code == "invalid_duration"
    said = f"'{text}' is not a duration" if text.strip() else "it was empty"  # never "got" nothing
    assert error.message.startswith(
        f"session_timeout: {said}; use ISO 8601 like PT24H or P1D, or a short form like 90s, 30m, 24h, 1d, 1h30m"
    )


@pytest.mark.parametrize("text", ["P1M", "P2Y", "P1Y2M3DT4H"])
def test_months_and_years_say_why(text: str) -> None:
    with pytest.raises(ValidationError, match="months and years"):
        parse_duration(text, field="session_timeout")


@pytest.mark.parametrize("value", [True, False, None, [1], float("nan"), float("inf"), b"24h"])
def test_refused_types(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(value, field="closure_check")  # type: ignore[arg-type]
    assert info.value.code == "invalid_duration" and info.value.field == "closure_check"


@pytest.mark.parametrize(("value", "shown"), [("-1h", "-1h"), (-5, "-5"), (-S, "-PT1S"), ("-PT2H", "-PT2H")])
def test_negative_durations_are_refused(value: str | int | timedelta, shown: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(value, field="session_timeout")
    assert info.value.code == "out_of_range"
    assert info.value.message == f"session_timeout must not be negative; got {shown}"


@pytest.mark.parametrize("value", ["99999999999d", 10**30, "P9999999999D"])
def test_absurdly_long_durations_are_refused_not_crashing(value: str | int) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(value, field="session_timeout")
    assert info.value.code == "out_of_range" and str(value) in info.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D, "P1D"),
        (12 * H, "PT12H"),
        (90 * M, "PT1H30M"),
        (D + 2 * H, "P1DT2H"),
        (90 * S, "PT1M30S"),
        (timedelta(0), "PT0S"),
        (90 * D, "P90D"),
        (M, "PT1M"),
        (24 * H - S, "PT23H59M59S"),
        (D + S, "P1DT1S"),
        (14 * D, "P14D"),
        (timedelta(milliseconds=500), "PT0.5S"),
        (timedelta(seconds=61, microseconds=1), "PT1M1.000001S"),
    ],
)
def test_format_is_canonical_iso(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError):
        format_duration(-S)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=999 * 86400))
def test_round_trip_whole_seconds(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert parse_duration(text, field="x") == value
    assert parse_duration(text.lower(), field="x") == value


@settings(max_examples=200)
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5000)))
def test_round_trip_with_microseconds(value: timedelta) -> None:
    assert parse_duration(format_duration(value), field="x") == value


@settings(max_examples=200)
@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_short_form_matches_iso(days: int, hours: int, minutes: int, seconds: int) -> None:
    units = ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
    short = "".join(f"{n}{u}" for n, u in units if n) or "0s"
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_duration(short, field="x") == expected


@settings(max_examples=200)
@given(st.text(max_size=12))
def test_any_text_parses_or_raises_validation_error(text: str) -> None:
    try:
        result = parse_duration(text, field="x")
    except ValidationError as error:
        assert error.field == "x"
    else:
        assert result >= timedelta(0)

"""Due times measured from T: window, eligibility, closure ticks (R9, R10), reminder due (R6), R3 clamp."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from wasession.domain.policy import Policy, validate_policy
from wasession.domain.schedule import (
    FUTURE_SKEW,
    WINDOW,
    closes_at,
    effective_timestamp,
    eligible_at,
    next_tick,
    reminder_due_at,
    window_closes_at,
)

MONDAY_1500 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ticks(start: datetime, count: int, interval: timedelta, anchor: time, tz: str) -> list[datetime]:
    out: list[datetime] = []
    at = start
    for _ in range(count):
        out.append(next_tick(at, interval, anchor, tz))
        at = out[-1] + US
    return out


def test_window_and_eligibility() -> None:
    assert WINDOW == 24 * H
    assert window_closes_at(MONDAY_1500) == z("2026-01-06T15:00:00Z")
    assert eligible_at(MONDAY_1500, Policy()) == z("2026-01-06T15:00:00Z")
    assert eligible_at(MONDAY_1500, validate_policy({"session_timeout": "90d"})) == z("2026-04-05T15:00:00Z")
    assert eligible_at(MONDAY_1500, validate_policy({"session_timeout": "1m"})) == z("2026-01-05T15:01:00Z")


def test_exact_closure_is_at_eligibility() -> None:
    p = validate_policy({"session_timeout": "2h30m"})
    assert closes_at(MONDAY_1500, p) == eligible_at(MONDAY_1500, p) == z("2026-01-05T17:30:00Z")


def test_r9_example_closes_at_the_0300_wednesday_tick() -> None:
    p = validate_policy({"session_timeout": "24h", "closure_check": "12h", "closure_check_anchor": "03:00"})
    assert eligible_at(MONDAY_1500, p) == z("2026-01-06T15:00:00Z")  # Tuesday
    assert closes_at(MONDAY_1500, p) == z("2026-01-07T03:00:00Z")  # Wednesday


@pytest.mark.parametrize(
    ("last", "closed"),
    [
        ("2026-01-05T14:59:59Z", "2026-01-06T15:00:00Z"),  # eligible a second before a tick: that tick
        ("2026-01-05T15:00:00Z", "2026-01-07T03:00:00Z"),  # eligible exactly on a tick: the next one
        ("2026-01-05T15:00:01Z", "2026-01-07T03:00:00Z"),
        ("2026-01-05T02:59:59Z", "2026-01-06T03:00:00Z"),
        ("2026-01-05T03:00:00Z", "2026-01-06T15:00:00Z"),
    ],
)
def test_interval_closure_is_the_first_tick_after_eligibility(last: str, closed: str) -> None:
    p = validate_policy({"session_timeout": "24h", "closure_check": "12h", "closure_check_anchor": "03:00"})
    assert closes_at(z(last), p) == z(closed)
    assert closes_at(z(last), p) > eligible_at(z(last), p)


def test_interval_closure_in_the_channel_time_zone() -> None:
    p = validate_policy(
        {
            "session_timeout": "1h",
            "closure_check": "24h",
            "closure_check_anchor": "09:00",
            "timezone": "America/New_York",
        }
    )
    assert closes_at(MONDAY_1500, p) == z("2026-01-06T14:00:00Z")  # 09:00 EST
    summer = z("2026-07-06T15:00:00Z")
    assert closes_at(summer, p) == z("2026-07-07T13:00:00Z")  # 09:00 EDT


@pytest.mark.parametrize("hours", range(1, 24))
def test_reminder_due_for_every_hour(hours: int) -> None:
    p = validate_policy({"reminder_enabled": True, "reminder_after_hours": hours})
    due = reminder_due_at(MONDAY_1500, p)
    assert due == MONDAY_1500 + timedelta(hours=hours)
    assert due is not None and due < window_closes_at(MONDAY_1500)


def test_reminder_due_is_none_when_disabled() -> None:
    assert reminder_due_at(MONDAY_1500, validate_policy({"reminder_after_hours": 5})) is None


@pytest.mark.parametrize(
    ("message_ts", "expected"),
    [
        (MONDAY_1500 - timedelta(days=3), MONDAY_1500 - timedelta(days=3)),  # late webhook keeps its time
        (MONDAY_1500, MONDAY_1500),
        (MONDAY_1500 + FUTURE_SKEW, MONDAY_1500 + FUTURE_SKEW),  # exactly 5 minutes ahead is tolerated
        (MONDAY_1500 + FUTURE_SKEW + US, MONDAY_1500),
        (MONDAY_1500 + timedelta(days=1), MONDAY_1500),
    ],
)
def test_effective_timestamp_clamps_only_far_future(message_ts: datetime, expected: datetime) -> None:
    assert timedelta(minutes=5) == FUTURE_SKEW
    assert effective_timestamp(message_ts, MONDAY_1500) == expected


# --- ticks --------------------------------------------------------------------------------------------


def test_12h_anchored_0300_ticks_at_0300_and_1500() -> None:
    got = ticks(z("2026-01-05T00:00:00Z"), 4, 12 * H, time(3), "UTC")
    assert got == [
        z("2026-01-05T03:00:00Z"),
        z("2026-01-05T15:00:00Z"),
        z("2026-01-06T03:00:00Z"),
        z("2026-01-06T15:00:00Z"),
    ]


def test_7h_restarts_at_the_anchor_every_day() -> None:
    got = ticks(z("2026-01-05T00:00:00Z"), 6, 7 * H, time(0), "UTC")
    assert [t.strftime("%d %H:%M") for t in got] == [
        "05 00:00",
        "05 07:00",
        "05 14:00",
        "05 21:00",
        "06 00:00",
        "06 07:00",
    ]


def test_7h_anchored_0300_keeps_the_late_tick_on_its_anchor_day() -> None:
    got = ticks(z("2026-01-05T03:00:00Z"), 5, 7 * H, time(3), "UTC")
    assert [t.strftime("%d %H:%M") for t in got] == ["05 03:00", "05 10:00", "05 17:00", "06 00:00", "06 03:00"]


def test_a_tick_is_its_own_next_tick_and_the_instant_after_moves_on() -> None:
    tick = z("2026-01-05T15:00:00Z")
    assert next_tick(tick, 12 * H, time(3), "UTC") == tick
    assert next_tick(tick + US, 12 * H, time(3), "UTC") == z("2026-01-06T03:00:00Z")
    assert next_tick(tick - US, 12 * H, time(3), "UTC") == tick


def test_one_minute_and_24h_intervals() -> None:
    assert next_tick(z("2026-01-05T10:00:30Z"), M, time(0), "UTC") == z("2026-01-05T10:01:00Z")
    assert next_tick(z("2026-01-05T10:00:00Z"), 24 * H, time(9, 30), "UTC") == z("2026-01-06T09:30:00Z")
    assert next_tick(z("2026-01-05T09:29:59Z"), 24 * H, time(9, 30), "UTC") == z("2026-01-05T09:30:00Z")


def test_offsets_that_are_not_whole_hours() -> None:
    # Asia/Kathmandu is UTC+05:45, so a 00:00 local anchor is 18:15Z the day before.
    assert next_tick(z("2026-01-05T12:00:00Z"), 24 * H, time(0), "Asia/Kathmandu") == z("2026-01-05T18:15:00Z")


def test_new_york_spring_forward_skips_the_missing_hour() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z): the 02:00 and 02:30 ticks become one 03:00 tick.
    got = ticks(z("2026-03-08T05:45:00Z"), 5, 30 * M, time(0), "America/New_York")
    local = [t.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M %Z") for t in got]
    assert local == ["01:00 EST", "01:30 EST", "03:00 EDT", "03:30 EDT", "04:00 EDT"]
    assert got[2] == z("2026-03-08T07:00:00Z")


def test_new_york_anchor_inside_the_gap_maps_forward() -> None:
    got = ticks(z("2026-03-07T00:00:00Z"), 3, 24 * H, time(2, 30), "America/New_York")
    assert got == [z("2026-03-07T07:30:00Z"), z("2026-03-08T07:00:00Z"), z("2026-03-09T06:30:00Z")]


def test_the_instant_a_gap_ends_catches_the_ticks_inside_the_gap() -> None:
    # Ticks at hh:30; 02:30 does not exist and resolves to 03:00 EDT = 07:00Z, which is a tick itself.
    assert next_tick(z("2026-03-08T07:00:00Z"), H, time(0, 30), "America/New_York") == z("2026-03-08T07:00:00Z")
    assert next_tick(z("2026-03-08T07:00:01Z"), H, time(0, 30), "America/New_York") == z("2026-03-08T07:30:00Z")


def test_new_york_fall_back_uses_the_first_pass_only() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST (06:00Z): 01:00-01:59 happens twice.
    got = ticks(z("2026-11-01T04:00:00Z"), 6, 30 * M, time(0), "America/New_York")
    assert got == [
        z("2026-11-01T04:00:00Z"),
        z("2026-11-01T04:30:00Z"),
        z("2026-11-01T05:00:00Z"),
        z("2026-11-01T05:30:00Z"),
        z("2026-11-01T07:00:00Z"),
        z("2026-11-01T07:30:00Z"),
    ]


@pytest.mark.parametrize("at", ["2026-11-01T05:30:00.000001Z", "2026-11-01T06:00:00Z", "2026-11-01T06:45:00Z"])
def test_during_the_repeated_hour_the_next_tick_is_after_it(at: str) -> None:
    assert next_tick(z(at), 30 * M, time(0), "America/New_York") == z("2026-11-01T07:00:00Z")


def test_new_york_daily_anchor_in_the_repeated_hour_is_the_first_pass() -> None:
    got = ticks(z("2026-10-31T00:00:00Z"), 3, 24 * H, time(1, 30), "America/New_York")
    assert got == [z("2026-10-31T05:30:00Z"), z("2026-11-01T05:30:00Z"), z("2026-11-02T06:30:00Z")]


def test_berlin_across_both_changes() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z; 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z.
    spring = ticks(z("2026-03-28T00:00:00Z"), 3, 24 * H, time(2, 30), "Europe/Berlin")
    assert spring == [z("2026-03-28T01:30:00Z"), z("2026-03-29T01:00:00Z"), z("2026-03-30T00:30:00Z")]
    autumn = ticks(z("2026-10-24T00:00:00Z"), 3, 24 * H, time(2, 30), "Europe/Berlin")
    assert autumn == [z("2026-10-24T00:30:00Z"), z("2026-10-25T00:30:00Z"), z("2026-10-26T01:30:00Z")]
    twelve = ticks(z("2026-03-28T12:00:00Z"), 4, 12 * H, time(3), "Europe/Berlin")
    assert twelve == [
        z("2026-03-28T14:00:00Z"),
        z("2026-03-29T01:00:00Z"),
        z("2026-03-29T13:00:00Z"),
        z("2026-03-30T01:00:00Z"),
    ]


def test_berlin_closure_across_the_spring_change() -> None:
    p = validate_policy(
        {"session_timeout": "24h", "closure_check": "12h", "closure_check_anchor": "03:00", "timezone": "Europe/Berlin"}
    )
    # Eligible Sunday 14:00Z (16:00 CEST): ticks at 03:00/15:00 CEST, so the next is Monday 03:00 CEST.
    assert closes_at(z("2026-03-28T14:00:00Z"), p) == z("2026-03-30T01:00:00Z")


def test_samoa_skipped_a_whole_day() -> None:
    # Pacific/Apia went from 2011-12-29 23:59:59 (-10) straight to 2011-12-31 00:00 (+14).
    got = ticks(z("2011-12-30T08:00:00Z"), 3, 24 * H, time(12), "Pacific/Apia")
    assert got == [z("2011-12-30T10:00:00Z"), z("2011-12-30T22:00:00Z"), z("2011-12-31T22:00:00Z")]


def test_lord_howe_half_hour_shift() -> None:
    # Australia/Lord_Howe moves by 30 minutes: 2026-04-05 02:00 (+11) -> 01:30 (+10:30).
    got = ticks(z("2026-04-04T14:00:00Z"), 4, 30 * M, time(0), "Australia/Lord_Howe")
    local = [t.astimezone(ZoneInfo("Australia/Lord_Howe")).strftime("%H:%M") for t in got]
    assert local == ["01:00", "01:30", "02:00", "02:30"]
    assert got[2] - got[1] == H  # 01:30 happened twice; the second pass and 01:30-02:00 again are skipped


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_tick(datetime(2026, 1, 5), H, time(0), "UTC")
    with pytest.raises(ValueError, match="positive"):
        next_tick(MONDAY_1500, timedelta(0), time(0), "UTC")


def test_results_are_utc() -> None:
    assert next_tick(MONDAY_1500, H, time(0), "Europe/Berlin").tzinfo is UTC
    assert next_tick(MONDAY_1500.astimezone(ZoneInfo("Asia/Tokyo")), H, time(0), "UTC") == MONDAY_1500

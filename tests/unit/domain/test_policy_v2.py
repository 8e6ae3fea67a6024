"""Policy v2 settings (issue 13) as pure values: parsing, wording, storage and business hours."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from wasession.domain.business_hours import parse_business_hours
from wasession.domain.errors import ValidationError
from wasession.domain.ladder import ReminderStep
from wasession.domain.policy import policy_errors, policy_from_storage, policy_to_storage, validate_policy
from wasession.domain.wording import duration_words


def z(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_every_v2_setting_round_trips_through_storage() -> None:
    p = validate_policy(
        {
            "reminder_enabled": True,
            "session_timeout": "48h",
            "reminder_steps": [{"after": "1h", "template": "Hi {contact_firstname}"}, {"before_window_closes": "2h"}],
            "reminder_only_when_awaiting_customer": "on",
            "closing_message": "Bye {contact_firstname|there}",
            "closing_template": {"name": "closing_notice", "language": "en_US"},
            "timeout_from": "last_message",
            "hold_while_awaiting_agent": True,
            "business_hours": {"mon-fri": ["09:00-12:00", "13:00-18:00"], "sat": "10:00-13:00"},
            "reopen_within": "2h",
            "timezone": "Europe/Lisbon",
        }
    )
    assert p.reminder_steps == (
        ReminderStep(after=timedelta(hours=1), template="Hi {contact_firstname}"),
        ReminderStep(before_window_closes=timedelta(hours=2)),
    )
    assert [s.offset for s in p.ladder] == [timedelta(hours=1), timedelta(hours=22)]
    assert p.step_template(1) == "Hi {contact_firstname}" and p.step_template(2) == p.reminder_template
    assert p.to_public()["business_hours"] == {
        "mon": ["09:00-12:00", "13:00-18:00"],
        "tue": ["09:00-12:00", "13:00-18:00"],
        "wed": ["09:00-12:00", "13:00-18:00"],
        "thu": ["09:00-12:00", "13:00-18:00"],
        "fri": ["09:00-12:00", "13:00-18:00"],
        "sat": ["10:00-13:00"],
    }
    assert policy_from_storage(policy_to_storage(p)) == p
    assert validate_policy(p.to_public()) == p


def test_business_hours_next_opening_in_a_non_utc_zone() -> None:
    hours = parse_business_hours({"mon-fri": ["09:00-17:00"]})
    tz = "America/New_York"
    assert hours.is_open(z("2026-01-12T14:00:00Z"), tz)  # Monday 09:00 local
    assert not hours.is_open(z("2026-01-12T13:59:59Z"), tz)
    assert not hours.is_open(z("2026-01-12T22:00:00Z"), tz)  # 17:00 local: the end is excluded
    assert hours.next_opening(z("2026-01-09T22:30:00Z"), tz) == z("2026-01-12T14:00:00Z")  # Fri 17:30 -> Mon
    assert hours.next_opening(z("2026-03-06T23:00:00Z"), tz) == z("2026-03-09T13:00:00Z")  # across the DST change
    assert parse_business_hours({}).is_open(z("2026-01-11T03:00:00Z"), tz)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"mon": ["09:00-09:00"]}, "end after its start"),
        ({"mon": ["9-17"]}, "HH:MM-HH:MM"),
        ({"mon-fri": ["09:00-12:00"], "fri": ["11:00-13:00"]}, "overlap"),
        ({"fri-mon": ["09:00-12:00"]}, "range"),
        ("always", "weekday ranges"),
    ],
)
def test_business_hours_refusals_name_the_problem(value: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_policy({"business_hours": value})
    assert info.value.field == "business_hours" and words in info.value.message


def test_ladder_refusals_say_the_range_in_words_and_name_the_step() -> None:
    errors = policy_errors({"reminder_steps": [{"after": "30s"}]})
    assert [e.message for e in errors] == [
        "reminder_steps: step 1: after must be between 1 minute and 23 hours 55 minutes; it was 30 seconds"
    ]
    errors = policy_errors({"reminder_steps": [{"before_window_closes": ""}]})
    assert errors[0].message.endswith("it was empty")
    errors = policy_errors({"reminder_steps": [{"after": "5h"}, {"before_window_closes": "20h"}]})
    assert "step 2 (4 hours after the customer's message) must come after step 1 (5 hours)" in errors[0].message


def test_all_errors_at_once_include_the_clash() -> None:
    errors = policy_errors({"session_timeout": "1h", "reminder_enabled": True, "timezone": "europe/lisbon"})
    assert [e.field for e in errors] == ["reminder_after_hours", "timezone"]
    assert "could never go out" in errors[0].message and "did you mean Europe/Lisbon?" in errors[1].message


def test_duration_words() -> None:
    assert duration_words(timedelta(hours=23, minutes=55)) == "23 hours 55 minutes"
    assert duration_words(timedelta(days=1, seconds=1)) == "1 day 1 second"

"""`evolve` is `dataclasses.replace` for the records the apply changes: the same record, or replace's own path."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from typing import Any

import pytest

from wasession.domain.pricing import MessagePricing, merge
from wasession.domain.records import evolve
from wasession.domain.states import ReminderState, SessionStatus
from wasession.store.sessions import SessionRow


def _session() -> SessionRow:
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(SessionRow)}
    values.update(id=7, channel_id=1, contact_id=2, status=SessionStatus.ACTIVE, reminder_state=ReminderState.SENT)
    return SessionRow(**values)


def test_a_session_row_evolves_into_what_replace_gives() -> None:
    row = _session()
    changed = evolve(row, reminder_state=ReminderState.READ, id=8)
    assert changed == dataclasses.replace(row, reminder_state=ReminderState.READ, id=8)
    assert type(changed) is SessionRow
    assert row.reminder_state is ReminderState.SENT and row.id == 7  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.id = 9  # type: ignore[misc]


def test_an_unknown_field_is_named_and_nothing_is_made() -> None:
    with pytest.raises(TypeError, match="SessionRow has no field reminder_stat"):
        evolve(_session(), reminder_stat=ReminderState.READ)


def test_pricing_merge_keeps_its_rules() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    stored = MessagePricing(category="service", expires_at=at)
    assert merge(stored, 2, MessagePricing(category="utility", pricing_type="regular"), 3) == MessagePricing(
        category="utility", pricing_type="regular", expires_at=at
    )
    assert merge(stored, 3, MessagePricing(category="utility"), 1) == stored  # an earlier status fills gaps only


@dataclasses.dataclass(frozen=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


@dataclasses.dataclass(frozen=True, slots=True)
class _Slotted:
    value: int


@dataclasses.dataclass(frozen=True)
class _Cached:
    value: int

    @functools.cached_property
    def double(self) -> int:
        return self.value * 2


@dataclasses.dataclass(frozen=True)
class _Derived:
    value: int
    derived: int = dataclasses.field(init=False, default=0)


def test_classes_that_do_more_than_assign_go_through_replace() -> None:
    with pytest.raises(ValueError, match="negative"):
        evolve(_Checked(1), value=-1)  # __post_init__ runs
    assert evolve(_Slotted(1), value=2) == _Slotted(2)
    cached = _Cached(1)
    assert cached.double == 2
    assert evolve(cached, value=5).double == 10  # the cached value is not copied
    assert evolve(_Derived(1), value=3).value == 3

"""The accelerated clock of `serve --sandbox-speed`, and loops that wait clock time / speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wasession.domain.clock import AcceleratedClock, ManualClock, SystemClock
from wasession.engine.runner import Loop

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_accelerated_clock_runs_speed_times_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _Monotonic()
    monkeypatch.setattr("wasession.domain.clock.time.monotonic", real)
    fast = AcceleratedClock(1800, start=T0)
    assert fast.now() == T0
    real.now += 2.0
    assert fast.now() == T0 + timedelta(hours=1)
    assert not fast.is_real and fast.speed == 1800


@pytest.mark.parametrize("speed", [0.5, 0, -3, float("inf"), float("nan")])
def test_a_speed_below_one_or_not_finite_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AcceleratedClock(speed)


def test_only_the_system_clock_is_real_time() -> None:
    assert SystemClock().is_real and SystemClock().speed == 1
    assert not ManualClock(T0).is_real


class _FastManual(ManualClock):
    speed = 100.0


def test_a_loop_waits_clock_time_divided_by_the_speed() -> None:
    fast = _FastManual(T0)
    due = T0 + timedelta(seconds=50)
    loop = Loop("due", lambda: None, lambda: due, fast, max_sleep=5.0)
    assert loop._sleep_for() == pytest.approx(0.5)  # 50 clock seconds at 100 per real second
    plain = Loop("due", lambda: None, lambda: T0 + timedelta(seconds=3), ManualClock(T0), max_sleep=5.0)
    assert plain._sleep_for() == pytest.approx(3.0)

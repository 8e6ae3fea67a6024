"""Where "now" comes from, and turning outside time values into aware UTC datetimes.

Everything else in the service asks a `Clock`, so tests and `wasession demo` can run on a
`ManualClock` and never wait for real time to pass, and `serve --sandbox-speed` on an
`AcceleratedClock` that shows a day of sandbox traffic in minutes.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@runtime_checkable
class Clock(Protocol):
    @property
    def is_real(self) -> bool:
        """True only when one clock second is one real second, in step with every other process:
        what is shared with other processes (rate-limit slots) or waited for in real time may
        then be measured on it."""
        ...

    @property
    def speed(self) -> float:
        """Clock seconds per real second: a loop waiting for a due time sleeps clock time / speed."""
        ...

    def now(self) -> datetime: ...


class SystemClock:
    is_real = True
    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """Real time run `speed` times faster from the moment it is made: for the sandbox, where only
    this process and the built-in fake need to agree on the time."""

    is_real = False

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if not math.isfinite(speed) or speed < 1:
            raise ValueError(f"speed must be a number of clock seconds per real second, at least 1; got {speed}")
        self.speed = float(speed)
        self._start = parse_instant(start) if start is not None else datetime.now(UTC)
        # monotonic, so a system clock adjustment never moves this clock backwards.
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def __repr__(self) -> str:
        return f"AcceleratedClock({self.speed:g})"


class ManualClock:
    """A clock that moves only when told to, and never backwards (due times would replay)."""

    is_real = False
    speed = 1.0

    def __init__(self, start: datetime | str) -> None:
        self._now = parse_instant(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        when = parse_instant(when)
        if when < self._now:
            raise ValueError(f"clock may not go backwards: {when.isoformat()} is before {self._now.isoformat()}")
        self._now = when

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"clock may not go backwards: cannot advance by {delta}")
        self._now = self._now + delta
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"


def parse_instant(value: datetime | str) -> datetime:
    """An ISO 8601 string or aware datetime as an aware UTC datetime.

    Naive values are refused rather than guessed: a silent local-time assumption would shift every
    due time by the server's UTC offset.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ValueError(f"{value!r} is not a date and time")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset; add one, e.g. 'Z' or '+00:00'")
    return parsed.astimezone(UTC)


def from_unix(ts: int | float | str) -> datetime:
    """A Unix timestamp (WhatsApp sends seconds as a string, e.g. "1697043223") as aware UTC."""
    if isinstance(ts, bool):
        raise ValueError(f"{ts!r} is not a Unix timestamp")
    try:
        # Decimal keeps "1697043223.5" exact where float would round the microseconds.
        seconds = Decimal(ts.strip()) if isinstance(ts, str) else Decimal(ts)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{ts!r} is not a Unix timestamp") from None
    if not seconds.is_finite() or seconds < 0 or (isinstance(ts, float) and not math.isfinite(ts)):
        raise ValueError(f"{ts!r} is not a Unix timestamp")
    try:
        return _EPOCH + timedelta(microseconds=int((seconds * 1_000_000).to_integral_value()))
    except OverflowError:
        raise ValueError(f"{ts!r} is out of range for a Unix timestamp") from None

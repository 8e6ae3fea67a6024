"""Login throttling: failed logins counted over a sliding window on the runtime's clock, answered with a
short growing delay, never a lock-out, and a bound on password hashes in flight (each scrypt takes 16 MiB
and a thread, so a flood of guesses must queue here instead of in memory).

Before issue 25, five wrong guesses from anywhere locked the username for 15 minutes: anyone could lock
the real admin out. Now the refusals (429 with Retry-After) are per (username, address) and per address:
past the limit, the wait after the latest failure doubles from FIRST_DELAY up to MAX_DELAY. Failures of one
username from every address together only slow each attempt at it down (at most USER_DELAY_CAP seconds
before the password is checked), so a guesser spread over many addresses gains little and the real
admin, from their own address, still gets in.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from wasession.domain.clock import Clock

# Names and addresses remembered at most; past that the oldest are forgotten first, so a flood of
# made-up usernames cannot grow this without bound.
MAX_TRACKED = 10_000
# How long a login waits for a free hashing slot before it is told to come back.
HASH_WAIT_SECONDS = 2.0
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(seconds=60)
USER_DELAY_FIRST = 0.25  # seconds, once a username's failures from all addresses pass twice its limit
USER_DELAY_CAP = 2.0
_REMEMBERED = 8  # failures kept past a limit: enough for the doubling to reach MAX_DELAY


class _Window:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self.failures: dict[Hashable, deque[datetime]] = {}

    def _recent(self, key: Hashable, now: datetime) -> deque[datetime] | None:
        times = self.failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[key]
            return None
        return times

    def past_limit(self, key: Hashable, now: datetime) -> tuple[int, datetime] | None:
        """How many failures past the limit (1 at the limit) and the latest one's time, or None."""
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return None
        return len(times) - self.limit + 1, times[-1]

    def retry_after(self, key: Hashable, now: datetime) -> float | None:
        """Seconds until the next try: FIRST_DELAY at the limit, doubling with each failure past it."""
        past = self.past_limit(key, now)
        if past is None:
            return None
        excess, latest = past
        delay = min(FIRST_DELAY * 2 ** (excess - 1), MAX_DELAY)
        wait = (latest + delay - now).total_seconds()
        return wait if wait > 0 else None

    def add(self, key: Hashable, now: datetime) -> None:
        times = self._recent(key, now)
        if times is None:
            if len(self.failures) >= MAX_TRACKED:
                del self.failures[next(iter(self.failures))]
            times = self.failures[key] = deque(maxlen=self.limit + _REMEMBERED)
        times.append(now)

    def clear(self, key: Hashable) -> None:
        self.failures.pop(key, None)


class LoginThrottle:
    def __init__(
        self, clock: Clock, *, per_user: int = 5, per_address: int = 20, window: timedelta = timedelta(minutes=15)
    ) -> None:
        self.clock = clock
        self.pairs = _Window(per_user, window)
        self.addresses = _Window(per_address, window)
        self.users = _Window(per_user * 2, window)
        self.lock = threading.Lock()
        # How a slowed attempt waits: real seconds whatever the clock, since it is the guesser's time it costs.
        # A test on the manual clock records the waits here instead of spending them.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until this username may be tried again from this address, or None if now."""
        now = self.clock.now()
        with self.lock:
            waits = (self.pairs.retry_after((username.lower(), address), now), self.addresses.retry_after(address, now))
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))

    def slow_down(self, username: str) -> float:
        """Real seconds an attempt at this username waits before its password is checked: a short, growing
        delay once its failures from every address together pass twice the limit; never a refusal."""
        with self.lock:
            past = self.users.past_limit(username.lower(), self.clock.now())
        return 0.0 if past is None else min(USER_DELAY_FIRST * 2 ** (past[0] - 1), USER_DELAY_CAP)

    def failed(self, username: str, address: str) -> None:
        now = self.clock.now()
        with self.lock:
            self.pairs.add((username.lower(), address), now)
            self.users.add(username.lower(), now)
            self.addresses.add(address, now)

    def succeeded(self, username: str, address: str) -> None:
        with self.lock:
            self.pairs.clear((username.lower(), address))
            self.users.clear(username.lower())


class HashingBusy(Exception):
    pass


class HashGate:
    """At most `slots` password checks at once; a login that finds none free within `wait` seconds
    gets HashingBusy (answered 503) rather than piling up threads and memory."""

    def __init__(self, slots: int = 2, wait: float = HASH_WAIT_SECONDS) -> None:
        self.slots = slots
        self.wait = wait
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # a semaphore serves one event loop
            self._semaphore, self._loop = asyncio.Semaphore(self.slots), loop
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.wait)
        except TimeoutError as exc:
            raise HashingBusy from exc
        try:
            yield
        finally:
            self._semaphore.release()

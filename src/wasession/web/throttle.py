"""Login throttling: failed logins counted per username and per client address over a sliding
window on the runtime's clock, and a bound on password hashes in flight (each scrypt takes 16 MiB and
a thread, so a flood of guesses must queue here instead of in memory)."""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from wasession.domain.clock import Clock

# Names and addresses remembered at most; past that the oldest are forgotten first, so a flood of
# made-up usernames cannot grow this without bound.
MAX_TRACKED = 10_000
# How long a login waits for a free hashing slot before it is told to come back.
HASH_WAIT_SECONDS = 2.0


class _Window:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self.failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime] | None:
        times = self.failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[key]
            return None
        return times

    def retry_after(self, key: str, now: datetime) -> float | None:
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return None
        return (times[-self.limit] + self.window - now).total_seconds()

    def add(self, key: str, now: datetime) -> None:
        times = self._recent(key, now)
        if times is None:
            if len(self.failures) >= MAX_TRACKED:
                del self.failures[next(iter(self.failures))]
            times = self.failures[key] = deque(maxlen=self.limit)
        times.append(now)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)


class LoginThrottle:
    def __init__(
        self, clock: Clock, *, per_user: int = 5, per_address: int = 20, window: timedelta = timedelta(minutes=15)
    ) -> None:
        self.clock = clock
        self.users = _Window(per_user, window)
        self.addresses = _Window(per_address, window)
        self.lock = threading.Lock()

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until this username and address may try again, or None if they may now."""
        now = self.clock.now()
        with self.lock:
            waits = (self.users.retry_after(username.lower(), now), self.addresses.retry_after(address, now))
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))

    def failed(self, username: str, address: str) -> None:
        now = self.clock.now()
        with self.lock:
            self.users.add(username.lower(), now)
            self.addresses.add(address, now)

    def succeeded(self, username: str) -> None:
        with self.lock:
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

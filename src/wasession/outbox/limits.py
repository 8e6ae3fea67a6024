"""How fast the sender may go: per channel (held slots here, the shared PostgreSQL limiter across
processes, ratelimit.py) and per recipient (the pacer), ADR 0003 and ADR 0005."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

from wasession.domain.clock import Clock
from wasession.outbox.ratelimit import SharedRateLimiter
from wasession.store.channels import Channel

# Per-recipient pacing (ADR 0005): on average one message per PAIR_SPACING to the same user, with a
# burst of PAIR_BURST, well inside Meta's pair rate limit (131056) so agents' quick follow-ups pass.
PAIR_SPACING = timedelta(seconds=6)
PAIR_BURST = 5
# Share of the channel's limit left unused when several processes share it: requests reach Meta a
# few milliseconds after their slot is taken, and that jitter must not push any second over it.
RATE_HEADROOM = 0.03
# With a real clock a send waits for a rate-limit slot at most this long; longer waits go back
# to the outbox so one saturated channel cannot hold every send in flight.
MAX_SLOT_WAIT = timedelta(seconds=1)
WINDOW = timedelta(seconds=1)
IN_FLIGHT_RETRY = timedelta(milliseconds=10)


def effective_rate(limit: int) -> int:
    return max(1, limit - math.ceil(limit * RATE_HEADROOM))


class RecipientPacer:
    """A sliding log per (channel, recipient): at most PAIR_BURST sends in PAIR_BURST × PAIR_SPACING."""

    def __init__(self, spacing: timedelta = PAIR_SPACING, burst: int = PAIR_BURST) -> None:
        self.window = spacing * burst
        self.burst = burst
        self._sent: dict[tuple[int, str], deque[datetime]] = {}
        self._next_prune: datetime | None = None
        self._lock = threading.Lock()

    def take(self, key: tuple[int, str], now: datetime) -> datetime | None:
        with self._lock:
            log = self._sent.setdefault(key, deque())
            while log and log[0] + self.window <= now:
                log.popleft()
            if len(log) < self.burst:
                log.append(now)
                return None
            return log[0] + self.window

    def release(self, key: tuple[int, str], at: datetime) -> None:
        """Give back a slot whose send never happened."""
        with self._lock:
            log = self._sent.get(key)
            if log is not None and at in log:
                log.remove(at)

    def prune(self, now: datetime) -> None:
        """Forget recipients with no send in the window; at most once a window, since it walks
        every recipient seen (20,000 a second at full speed)."""
        with self._lock:
            if self._next_prune is not None and now < self._next_prune:
                return
            self._next_prune = now + self.window
            for key in [k for k, log in self._sent.items() if not log or log[-1] + self.window <= now]:
                del self._sent[key]


class HeldSlots:
    """In this process, a send holds one of the channel's slots from the moment it is taken until
    one second after its answer came back. Whenever a request reaches Meta, every request that
    reached Meta in the second before it still holds its slot, so however late a request arrives
    after its slot was taken, no one-second window at Meta holds more than the limit (ADR 0005)."""

    def __init__(self) -> None:
        self._in_flight: dict[int, int] = {}
        self._done: dict[int, deque[datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: int, limit: int, now: datetime) -> datetime | None:
        with self._lock:
            done = self._done.setdefault(key, deque())
            while done and done[0] + WINDOW <= now:
                done.popleft()
            if self._in_flight.get(key, 0) + len(done) < limit:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                return None
            return done[0] + WINDOW if done else now + IN_FLIGHT_RETRY

    def release(self, key: int, answered_at: datetime | None) -> None:
        """`answered_at` None: the request never left, the slot is simply free again."""
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            if answered_at is not None:
                self._done.setdefault(key, deque()).append(answered_at)


class ChannelLimits:
    """The channel's rate-limit slots, taken right before a request leaves: this process's held slot
    (see HeldSlots) and, with several processes on PostgreSQL, the shared limiter's.

    Held slots bound what reaches Meta exactly, so one process may use the whole limit. The shared
    limiter counts from the moment each slot is taken, so there the sender keeps RATE_HEADROOM for
    requests that arrive a little after their slot (ADR 0003)."""

    def __init__(self, clock: Clock, shared: SharedRateLimiter | None) -> None:
        self.clock = clock
        self.shared = shared  # None: this process's held slots are the whole limit
        self.held = HeldSlots()

    def try_take(self, channel: Channel, now: datetime) -> datetime | None:
        """None once a slot is held (give it back with `release`); else when one may be free. The
        sender waits up to MAX_SLOT_WAIT for it with a real clock, and defers the message otherwise."""
        limit = channel.rate_limit_per_second
        if self.shared is not None:
            limit = effective_rate(limit)
        key = channel.id
        later = self.held.take(key, limit, now)
        if later is None:
            later = self.shared.take(key, limit, now) if self.shared is not None else None
            if later is None:
                return None
            self.held.release(key, None)
        return later

    def release(self, channel: Channel) -> None:
        """After the request's answer (or failure): the slot stays held for one more second."""
        self.held.release(channel.id, self.clock.now())

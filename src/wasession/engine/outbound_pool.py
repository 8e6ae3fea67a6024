"""What the event dispatcher and the relay share: calls to addresses outside, made from a pool shared
fairly between workspaces (`fair_pool.py`, issue 25), one target at a time (a target already being
called in this process is not taken again)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping

from wasession.engine.fair_pool import FairPool
from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy, Resolver, system_resolver
from wasession.outbound.http import DEADLINE_SECONDS, OutboundResult

Post = Callable[[str, bytes, Mapping[str, str]], OutboundResult]


class StepReport:
    """What one step did, counted by outcome (the relay's delivered, failed, given_up, skipped; the
    dispatcher's delivered, retrying, failed) from the pool's threads; `queued`: calls handed to the pool
    and not finished when the step returned."""

    def __init__(self) -> None:
        self.queued = 0
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return self.queued + sum(self.outcomes.values())

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1


class OutboundPool:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        thread_name: str,
        policy: AddressPolicy | None = None,
        resolver: Resolver = system_resolver,
        post: Post | None = None,
        deadline: float = DEADLINE_SECONDS,
        pool_size: int,
        per_workspace: int,
        wait: bool = True,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.policy = policy or AddressPolicy()
        self.resolver = resolver
        self.deadline = deadline
        self._post = post  # a scripted call (tests); None: the guarded network call
        # wait=False (the serve loop): a step hands targets to the pool and returns; finished work calls
        # on_done. wait=True (the Simulator, tests): a step returns when its calls are done.
        self.wait = wait
        self.on_done: Callable[[], None] = on_done or (lambda: None)
        self._pool = FairPool(pool_size, per_workspace=per_workspace, name=thread_name)
        self._waiting_for_room = False  # the last step left due work for want of a thread
        self._running: set[int] = set()  # targets this process is calling now
        self._running_lock = threading.Lock()

    def _take(self, target_id: int) -> bool:
        """Mark `target_id` as being called here; False when it already is."""
        with self._running_lock:
            if target_id in self._running:
                return False
            self._running.add(target_id)
            return True

    def _release(self, target_id: int) -> None:
        with self._running_lock:
            self._running.discard(target_id)

    def _then(self) -> None:
        if not self.wait:
            self.on_done()

    def close(self) -> None:
        self._pool.shutdown()

"""A delivery pool shared by every workspace, where no workspace holds more than its share of the threads.

Relay targets and event webhooks each have one pool per process. Before this, a workspace with eight
receivers that answer after 5 s held all eight threads of both pools, and another workspace's forward
waited 97 s (issue 25). Now a unit of work (one target's or one webhook's step) is submitted under its
workspace, a workspace holds at most `per_workspace` threads at once, and the due work of one step is
offered to the pool round-robin across workspaces, so a workspace that wants one thread finds it free
while another's slow receivers wait their turn. Any other kind of outbound delivery (a Chatwoot
connection, say) joins by submitting its steps the same way.

A step is bounded by time and bytes (STEP_SECONDS; the relay also STEP_BYTES), never by a count, so a
thread comes back after at most STEP_SECONDS plus one call's deadline whatever the receiver does.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# A step of one target or webhook ends after this much of its own time (the call in flight finishes).
STEP_SECONDS = 2.0


def round_robin(items: Iterable[T], workspace_of: Callable[[T], Hashable]) -> list[T]:
    """`items` reordered one per workspace in turn, each workspace's own order kept."""
    queues: dict[Hashable, deque[T]] = defaultdict(deque)
    for item in items:
        queues[workspace_of(item)].append(item)
    ordered: list[T] = []
    while queues:
        for key in list(queues):
            ordered.append(queues[key].popleft())
            if not queues[key]:
                del queues[key]
    return ordered


class FairPool:
    def __init__(self, size: int, *, per_workspace: int, name: str) -> None:
        self.size = size
        self.per_workspace = max(1, min(per_workspace, size))
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()

    def take(self, workspace_id: int) -> bool:
        """A thread for a step of this workspace, counted from now (before its work is leased): False when
        the workspace holds its share or the pool is full. Hand it to `submit`, or back with `give_back`."""
        with self._lock:
            if self._held[workspace_id] >= self.per_workspace or sum(self._held.values()) >= self.size:
                return False
            self._held[workspace_id] += 1
            return True

    def give_back(self, workspace_id: int) -> None:
        """A thread taken and not used (the work was gone or leased elsewhere)."""
        self._done(workspace_id)

    def held(self, workspace_id: int) -> int:
        with self._lock:
            return self._held[workspace_id]

    def submit(self, workspace_id: int, step: Callable[[], None], then: Callable[[], None]) -> Future[None]:
        """Run `step` on a thread `take` gave, counted against its workspace until it returns; `then`
        runs after the thread is counted free (a wake-up of the loop that may now submit more)."""
        try:
            return self._pool.submit(self._run, workspace_id, step, then)
        except BaseException:
            self._done(workspace_id)
            raise

    def _run(self, workspace_id: int, step: Callable[[], None], then: Callable[[], None]) -> None:
        try:
            step()
        finally:
            self._done(workspace_id)
            then()

    def _done(self, workspace_id: int) -> None:
        with self._lock:
            self._held[workspace_id] -= 1
            if self._held[workspace_id] <= 0:
                del self._held[workspace_id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

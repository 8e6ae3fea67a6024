"""The shared delivery pool's accounting (engine/fair_pool.py): a workspace holds at most its share, counted
from the moment its work is claimed, and due work is offered round-robin across workspaces."""

from __future__ import annotations

import threading

from wasession.engine.fair_pool import FairPool, round_robin


def test_a_workspace_holds_at_most_its_share_and_the_others_find_room() -> None:
    pool = FairPool(4, per_workspace=2, name="test")
    try:
        assert pool.take(1) and pool.take(1)
        assert not pool.take(1)  # its share, counted before anything was submitted
        assert pool.take(2) and pool.take(2)
        assert not pool.take(3)  # the pool is full
        pool.give_back(2)
        assert pool.take(3)
        release = threading.Event()
        done = threading.Event()
        pool.submit(1, release.wait, done.set)
        assert pool.held(1) == 2
        release.set()
        assert done.wait(5)
        assert pool.held(1) == 1  # the finished step's thread is free before `then` runs
    finally:
        pool.shutdown()


def test_due_work_is_offered_one_workspace_at_a_time() -> None:
    due = [("a1", 1), ("a2", 1), ("a3", 1), ("b1", 2), ("c1", 3), ("b2", 2)]
    assert [name for name, _ in round_robin(due, lambda d: d[1])] == ["a1", "b1", "c1", "a2", "b2", "a3"]

from __future__ import annotations

import threading

import pytest

from wasession.store.locks import FairRLock


def _wait_until_queued(lock: FairRLock, n: int) -> None:
    for _ in range(10_000):
        with lock._guard:
            if len(lock._waiters) >= n:
                return
        threading.Event().wait(0.001)
    raise AssertionError(f"never saw {n} waiters")


def test_waiters_get_the_lock_in_the_order_they_came_even_against_a_greedy_holder() -> None:
    lock = FairRLock()
    order: list[str] = []
    lock.acquire()
    threads = []
    for name in ("a", "b", "c"):
        t = threading.Thread(target=lambda n=name: (lock.acquire(), order.append(n), lock.release()))
        t.start()
        threads.append(t)
        _wait_until_queued(lock, len(threads))
    lock.release()
    # The releasing thread wants the lock straight back: it must queue behind a, b and c.
    lock.acquire()
    order.append("greedy")
    lock.release()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c", "greedy"]


def test_it_is_reentrant_and_only_the_last_release_frees_it() -> None:
    lock = FairRLock()
    assert lock.acquire() and lock.acquire()
    lock.release()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.05)))
    t.start()
    t.join(5)
    assert got == [False]  # still held once
    lock.release()
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=5)))
    t.start()
    t.join(5)
    assert got == [False, True]


def test_a_timed_out_waiter_leaves_the_queue_and_never_owns_the_lock() -> None:
    lock = FairRLock()
    lock.acquire()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.01)))
    t.start()
    t.join(5)
    assert got == [False] and not lock._waiters
    lock.release()
    assert lock.acquire(blocking=False)  # free: nobody was handed it
    lock.release()


def test_release_by_a_thread_that_does_not_hold_it_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        FairRLock().release()

"""`serve` and its apply process leave what startup built out of every collection (runtime/heap.py)."""

import gc

from wasession.runtime import heap


def test_settle_freezes_what_is_alive_and_makes_young_collections_rare() -> None:
    before = gc.get_threshold()
    try:
        kept = [object() for _ in range(10)]
        heap.settle()
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold()[0] == max(before[0], heap.YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

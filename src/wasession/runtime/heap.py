"""The garbage collector tuned for a long-running server: what startup built is frozen, young
collections are rarer.

Measured under a B1 run (docs/benchmarks.md, "What the last profile says"): with CPython's default
threshold of 700 `serve` ran about 30 young collections a second and, every few seconds, an old one
walking every object the modules, SQLAlchemy and the engine keep for the process's lifetime: four
of them in 15 s, up to 216 ms each on a loaded machine, every request in flight waiting. Objects
alive once the server is ready are never garbage, so they are frozen out of every collection, and
most of what a request allocates is freed by reference counting, so young collections can be rare.
"""

from __future__ import annotations

import gc

# Allocations minus deallocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Call once, when startup is done: everything alive now is left out of every later collection."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)

"""The loops' sweep intervals, apart from `workers` so that `serve`'s apply process, which runs one of
these loops and none of the workers, need not import the engines to know its own sweep."""

from __future__ import annotations

# How often each process looks for messages a dead process left in `sending` (they become
# `unknown` after sender.STUCK_AFTER).
RECOVER_EVERY = 60.0
# The due loop's longest sleep: it re-reads the next due time at least this often, so a due time
# further away than this needs no wake-up to be met.
DUE_MAX_SLEEP = 1.0
# The apply loop is woken after every ack commit of this process; this sweep is the safety net
# (bodies logged by another process, a wake-up lost to a failed step).
APPLY_SWEEP = 1.0

"""The composition root. `Runtime` is the cheap part every command needs (settings, database,
clock, secret box, services context, ingest); `Workers` (`wasession.runtime.workers`, built by
`Runtime.workers` on first use) adds what only `serve` and `worker` run (due worker, sender, event
dispatcher, relay, their loops, the PostgreSQL wake-up listener)."""

from wasession.runtime.cadence import DUE_MAX_SLEEP, RECOVER_EVERY
from wasession.runtime.core import Runtime

__all__ = ["DUE_MAX_SLEEP", "RECOVER_EVERY", "Runtime"]

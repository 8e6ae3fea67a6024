"""The composition root. `Runtime` is the cheap part every command needs (settings, database,
clock, secret box, services context, ingest); `Workers` adds what only `serve` and `worker` run (due
worker, sender, event dispatcher, relay, their loops, the PostgreSQL wake-up listener)."""

from wasession.runtime.core import Runtime
from wasession.runtime.workers import DUE_MAX_SLEEP, RECOVER_EVERY, Workers

__all__ = ["DUE_MAX_SLEEP", "RECOVER_EVERY", "Runtime", "Workers"]

"""The composition root. `Runtime` is the cheap part every command needs (settings, database,
clock, secret box, services context, ingest); `Engine` adds what only `serve` and `worker` run (due
worker, sender, event dispatcher, their loops, the PostgreSQL wake-up listener)."""

from wasession.runtime.core import Runtime
from wasession.runtime.engine import DUE_MAX_SLEEP, RECOVER_EVERY, Engine

__all__ = ["DUE_MAX_SLEEP", "RECOVER_EVERY", "Engine", "Runtime"]

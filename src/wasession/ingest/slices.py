"""Large bodies applied in slices, each in a transaction of its own, so no body holds the one
writer for long; and the parse of a body, shared by its signature verdict and by applying it."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from wasession.ingest.apply import Applier
from wasession.ingest.batch import BodyToApply, Update, updates_in_order
from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult
from wasession.lifecycle.context import ServiceContext
from wasession.store import webhook_log
from wasession.store.channels import Channel
from wasession.store.db import IntegrityError
from wasession.whatsapp.payload import PayloadError, WebhookBatch, parse_webhook

log = logging.getLogger(__name__)

# Updates (messages, statuses, others) applied per transaction at most: a 5,000-message body
# would otherwise hold the one writer for seconds while every other webhook waits.
SLICE = 200
# ...and for at most this long: on a slow or busy machine a slice stops early, so the webhooks
# queued behind it wait about this long whatever the machine.
SLICE_SECONDS = 0.05
STEP = 50  # updates applied (as one batch) between two looks at the clock
CONFLICT_RETRIES = 3

# Told the results of what was applied, once committed (`Ingestor.report`).
Report = Callable[[list[IngestResult]], None]


@dataclass
class Prepared:
    """A body parsed once, for both the signature verdict and applying it."""

    raw: bytes
    batch: WebhookBatch | None
    error: str | None
    updates: list[Update]

    @property
    def large(self) -> bool:
        return len(self.updates) > SLICE


def prepare(raw: bytes) -> Prepared:
    try:
        batch = parse_webhook(raw)
    except PayloadError as exc:
        return Prepared(raw, None, f"unreadable payload: {exc}", [])
    return Prepared(raw, batch, None, updates_in_order(batch))


@dataclass
class SlicedBody:
    """A logged body being applied slice by slice; `step` runs one slice in its own transaction
    and, with the last, marks the log row. Slices are idempotent, so a re-run is harmless. Applied
    as if at `received_at` (its logged arrival: R3's clamp), like the apply queue's batches."""

    log_id: int
    updates: Sequence[Update]
    verdict: Verdict
    received_at: datetime
    future: Future[IngestResult] | None = None
    result: IngestResult = field(default_factory=IngestResult)
    position: int = 0

    def __post_init__(self) -> None:
        self.result.log_id = self.log_id

    def step(self, ctx: ServiceContext, applier: Applier, report: Report) -> bool:
        """Apply the next slice, through the one apply path, a batch of STEP updates at a time;
        True once the body is marked processed."""
        for attempt in range(CONFLICT_RETRIES):
            piece = IngestResult(log_id=self.log_id)
            end = self.position
            try:
                with ctx.db.write() as conn:
                    started = time.perf_counter()
                    channels: dict[str, Channel | None] = {}
                    limit = min(self.position + SLICE, len(self.updates))
                    while end < limit and (end == self.position or time.perf_counter() - started < SLICE_SECONDS):
                        part = self.updates[end : min(end + STEP, limit)]
                        applier.apply(
                            conn, [BodyToApply(self.log_id, part, self.verdict, self.received_at, piece)], channels
                        )
                        end += len(part)
                    last = end >= len(self.updates)
                    if last:
                        total = copy.deepcopy(self.result)
                        total.add(piece)
                        webhook_log.mark_processed(conn, self.log_id, ctx.clock.now(), total.to_outcome())
                break
            except IntegrityError:
                if attempt == CONFLICT_RETRIES - 1:
                    return self._fail(ctx, "IntegrityError: the slice kept conflicting")
            except Exception as exc:  # the body is kept for re-processing whatever went wrong
                log.exception("webhook %s could not be applied (slice at %d)", self.log_id, self.position)
                return self._fail(ctx, f"{type(exc).__name__}: {exc}")
        self.result.add(piece)
        self.position = end
        report([piece])
        return last

    def _fail(self, ctx: ServiceContext, error: str) -> bool:
        self.result.error = error
        with ctx.db.write() as conn:
            webhook_log.mark_processed(conn, self.log_id, ctx.clock.now(), self.result.to_outcome())
        self.position = len(self.updates)
        return True

"""The raw webhook log as the admin sees it: retention, listing, re-processing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from wasession.ingest.ingestor import Ingestor
from wasession.ingest.result import IngestResult
from wasession.lifecycle.context import ServiceContext
from wasession.store import forwards as forward_store
from wasession.store import webhook_log
from wasession.store.webhook_log import LoggedBody

DEFAULT_RETENTION_DAYS = 30
PRUNE_BATCH = 5000
REPROCESS_BATCH = 200


def prune_webhook_log(ctx: ServiceContext, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Delete stored bodies received more than `retention_days` ago; returns how many. A replay
    of a pruned body is stored again: deduplication holds within the retention period."""
    if retention_days < 1:
        raise ValueError(f"webhook retention must be at least 1 day; got {retention_days}")
    cutoff = ctx.clock.now() - timedelta(days=retention_days)
    # Bodies a relay target has not taken yet stay until it gives them up (issue 16).
    keep_since = ctx.clock.now() - forward_store.GIVE_UP_AFTER
    removed = 0
    while True:  # in slices, so a large backlog never holds one long write lock
        with ctx.db.read() as conn:
            keep_after = forward_store.oldest_needed(conn)
        with ctx.db.log.write() as conn:
            count = webhook_log.delete_received_before(
                conn, cutoff, PRUNE_BATCH, keep_after=keep_after, keep_since=keep_since
            )
        removed += count
        if count < PRUNE_BATCH:
            return removed


def logged_bodies(
    ctx: ServiceContext,
    *,
    since: datetime | None = None,
    log_id: int | None = None,
    errors_only: bool = False,
    unroutable_only: bool = False,
    after_id: int = 0,
    limit: int = REPROCESS_BATCH,
) -> list[LoggedBody]:
    with ctx.db.read() as conn:
        return webhook_log.listed(
            conn,
            since=since,
            log_id=log_id,
            failed_only=errors_only,
            unroutable_only=unroutable_only,
            after_id=after_id,
            limit=limit,
        )


def reprocess_logged(
    ingestor: Ingestor,
    *,
    since: datetime | None = None,
    log_id: int | None = None,
    errors_only: bool = False,
) -> Iterator[IngestResult]:
    """Apply stored bodies again, oldest first, each verified again change by change."""
    ctx = ingestor.ctx
    after = 0
    while True:
        batch = logged_bodies(ctx, since=since, log_id=log_id, errors_only=errors_only, after_id=after)
        for entry in batch:
            with ctx.db.read() as conn:
                stored = webhook_log.body_and_signature(conn, entry.id)
            if stored is not None:
                yield ingestor.reprocess(entry.id, *stored, received_at=entry.received_at)
        if len(batch) < REPROCESS_BATCH:
            return
        after = batch[-1].id

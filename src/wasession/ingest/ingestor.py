"""Webhook ingest: per-change signature check on raw bytes, durable raw log, then applying it.

A small body is appended to the webhook log in the same transaction that applies it, so a 2xx
always means the body is on disk; if applying fails, the body is still committed (savepoint) and
can be re-processed later. A large body is logged first, then applied in slices of its own
transactions (`SlicedBody`), so it never holds the single writer for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime

from wasession.ingest.apply import Applier, Update
from wasession.ingest.credentials import TRUSTED, CredentialCache, SignatureRejected, Verdict
from wasession.ingest.group_commit import GroupCommit
from wasession.ingest.result import IngestResult
from wasession.ingest.slices import CONFLICT_RETRIES, Prepared, SlicedBody, prepare
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.store import webhook_log
from wasession.store.channels import Channel, ChannelCache
from wasession.store.db import Connection, IntegrityError

log = logging.getLogger(__name__)


class Ingestor:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        wake: Callable[[IngestResult], None] | None = None,
        on_customer: Callable[[str, str, datetime], None] | None = None,
    ) -> None:
        self.ctx = ctx
        # Told of every committed window-opening customer message, whichever path delivered it.
        self.on_customer = on_customer
        self.credentials = CredentialCache(ctx)
        self.channels = ChannelCache()
        self.applier = Applier(self.channels)
        # After a commit: which engine loops to wake depends on what the bodies changed.
        self._wake = wake or (lambda _result: ctx.wake())
        self._group = GroupCommit(self)

    def ingest(self, raw: bytes, signature: str | None = None) -> IngestResult:
        """Store and apply a body in transactions of its own (one, unless it is large). Without
        `signature` the caller has verified the body; with it, each change is checked against the
        app secret of the channel it addresses, stored now (`SignatureRejected` if none verifies,
        and nothing is stored)."""
        started = time.perf_counter()
        prepared = prepare(raw)
        sliced: SlicedBody | None = None
        with self.ctx.db.write() as conn:
            verdict = self.verdict(conn, prepared, signature)
            if prepared.large:
                replay = self.replay_of(conn, raw)
                if replay is not None:
                    return replay
                sliced = self.log_for_slices(conn, prepared, signature, verdict)
            else:
                result = self.ingest_in(conn, raw, {}, signature=signature, verdict=verdict, prepared=prepared)
        if sliced is not None:
            while not sliced.step(self):
                pass
            result = sliced.result
        else:
            self.after_commit([result])
        metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
        return result

    def submit(self, raw: bytes, signature: str | None = None) -> Future[IngestResult]:
        """`ingest`, together with the other bodies waiting (group commit, see `GroupCommit`).

        The future is resolved once the transaction holding the body has committed (for a large
        body: its last slice): its result means stored and applied exactly as `ingest` would have;
        its exception (such as `SignatureRejected`) means nothing of this body was stored."""
        return self._group.submit(raw, signature)

    def verdict(self, conn: Connection, prepared: Prepared, signature: str | None) -> Verdict:
        """TRUSTED without a signature; else the per-change verdict, raising if nothing verifies."""
        if signature is None:
            return TRUSTED
        verdict = self.credentials.verdict(conn, prepared.batch, signature, prepared.raw)
        if not verdict.accepted:
            raise SignatureRejected()
        return verdict

    def replay_of(self, conn: Connection, raw: bytes) -> IngestResult | None:
        existing = webhook_log.id_of_body(conn, raw)
        return IngestResult(log_id=existing, replay=True) if existing is not None else None

    def log_for_slices(
        self, conn: Connection, prepared: Prepared, signature: str | None, verdict: Verdict
    ) -> SlicedBody:
        now = self.ctx.clock.now()
        log_id = webhook_log.append(conn, prepared.raw, now, signature)
        return SlicedBody(log_id, prepared.updates, verdict, now)

    def ingest_in(
        self,
        conn: Connection,
        raw: bytes,
        channels: dict[str, Channel | None],
        *,
        careful: bool = True,
        signature: str | None = None,
        verdict: Verdict = TRUSTED,
        prepared: Prepared | None = None,
    ) -> IngestResult:
        """Append and apply one body inside the caller's transaction (bytes already stored: a
        replay, nothing new). Applying runs in a savepoint: an error keeps the raw body (marked
        with the error) and undoes the rest; an integrity error (two processes opening the same
        session or contact at once) is retried, and the third one removes the raw body again, so
        nothing of this body is left, and is raised.

        `careful=False`: no savepoint, and any error is raised; the caller must roll back its
        whole transaction then (and may write the body again carefully)."""
        replay = self.replay_of(conn, raw)
        if replay is not None:
            return replay
        body = prepared or prepare(raw)
        now = self.ctx.clock.now()
        if not careful:
            # Applied first, then logged with its outcome in one INSERT (nothing reads the log
            # row while applying; if applying raises, the caller rolls back everything).
            result = IngestResult(error=body.error)
            self.applier.apply(conn, body.updates, verdict, now, result, channels)
            result.log_id = webhook_log.append_processed(conn, raw, now, signature, result.to_outcome())
            return result
        log_id = webhook_log.append(conn, raw, now, signature)
        for attempt in range(CONFLICT_RETRIES):
            result = IngestResult(log_id=log_id, error=body.error)
            try:
                self._apply_logged(conn, log_id, body.updates, verdict, now, result, channels)
                return result
            except IntegrityError:
                # The savepoint is rolled back; the retry sees the other writer's row.
                channels.clear()
                if attempt == CONFLICT_RETRIES - 1:
                    webhook_log.remove(conn, log_id)
                    raise
        raise AssertionError("unreachable")

    def after_commit(self, results: list[IngestResult]) -> None:
        merged = IngestResult()
        if self.on_customer is not None:
            for r in results:
                for pnid, user, at in r.customers:
                    self.on_customer(pnid, user, at)
        for r in results:
            merged.opened += r.opened
            merged.messages += r.messages
            merged.statuses += r.statuses
            merged.scheduled(r.due_at)
        if merged.opened or merged.messages or merged.statuses:
            self._wake(merged)

    def reprocess(self, log_id: int, raw: bytes, signature: str | None = None) -> IngestResult:
        """Apply a stored body again, in slices. Safe to repeat: a known wamid changes nothing (R4)
        and statuses only move forward (R15). With the signature it was received with, each change
        is verified again against its channel's current secret: a number claimed since by another
        channel is applied only if that channel's secret signs the body."""
        prepared = prepare(raw)
        with self.ctx.db.read() as conn:
            verdict = TRUSTED if signature is None else self.credentials.verdict(conn, prepared.batch, signature, raw)
        sliced = SlicedBody(log_id, prepared.updates, verdict, self.ctx.clock.now())
        sliced.result.error = prepared.error
        if not prepared.updates:
            sliced.updates = []
            with self.ctx.db.write() as conn:
                webhook_log.mark_processed(conn, log_id, self.ctx.clock.now(), sliced.result.to_outcome())
            return sliced.result
        while not sliced.step(self):
            pass
        return sliced.result

    def _apply_logged(
        self,
        conn: Connection,
        log_id: int,
        updates: Sequence[Update],
        verdict: Verdict,
        now: datetime,
        result: IngestResult,
        channels: dict[str, Channel | None],
    ) -> None:
        savepoint = conn.begin_nested()
        try:
            self.applier.apply(conn, updates, verdict, now, result, channels)
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()
            raise
        except Exception as exc:  # the body is kept for re-processing whatever went wrong
            savepoint.rollback()
            log.exception("webhook %s could not be applied", log_id)
            result.error = f"{type(exc).__name__}: {exc}"
        webhook_log.mark_processed(conn, log_id, now, result.to_outcome())

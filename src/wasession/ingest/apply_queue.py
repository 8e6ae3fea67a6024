"""Applying logged webhook bodies in batches right behind the ack: customer messages first, then
bodies holding only statuses of our own sends, each oldest first (docs/decisions/0006).

The backlog is the log rows without `processed_at`: nothing waits in memory, a crash loses
nothing (the rows are applied after the restart), and applying is idempotent (a known wamid
changes nothing, R4; statuses only move forward, R15), so a batch applied twice is harmless. On
SQLite the log is a file of its own and a batch is marked in a second, short transaction on it
(`webhook_log.applying`); a crash between the two re-applies the batch, which changes nothing.
Each body is judged again against the channel secrets stored when it is applied (a secret rotated
since the ack no longer signs; read, with the parse, just before the batch's write transaction, so
that transaction holds SQLite's one write lock only to apply), and applied as if at its logged
`received_at` (R3's clamp), so a late apply or a replay gives the same T as one applied at once.
On PostgreSQL batches are claimed with `FOR UPDATE SKIP LOCKED`, so several processes share the work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from wasession.ingest.apply import Applier
from wasession.ingest.batch import BodyToApply
from wasession.ingest.credentials import TRUSTED, CredentialCache
from wasession.ingest.result import IngestResult
from wasession.ingest.slices import CONFLICT_RETRIES, Report, SlicedBody, prepare
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.store import webhook_log
from wasession.store.channels import Channel
from wasession.store.db import Connection, IntegrityError, savepoint
from wasession.store.webhook_log import Pending

log = logging.getLogger(__name__)

APPLY_BATCH = 500  # bodies per apply transaction
BATCHES_PER_STEP = 40  # a loop step ends after this many, so `stop` never waits long
DEPTH_EVERY = 1.0  # seconds between two counts of the backlog
# Under load the ack commits a few bodies at a time and wakes the apply loop after each group: applied
# as they come, each few bodies cost an apply transaction (a claim, the re-judged secrets, the marks,
# the wake-up of the engine's loops) and take SQLite's one writer from the ack that much more often.
# A step that follows the previous one closer than this waits the rest of it first, so batches grow
# with the load; at a low rate the previous step is long past and a body is applied at once.
APPLY_LINGER = 0.02
# SQLite, while webhooks arrive (one was logged within ACK_BUSY seconds): the ack has a writer of its
# own (the log file), but each apply transaction still costs a few milliseconds whatever its size
# (the claim, the re-judged secrets, the mark on the log file), so a step waits BUSY_LINGER after the
# previous one; and a batch takes at most BUSY_BATCH bodies, so a customer message logged behind a
# backlog of statuses waits for one bounded batch before the next claim puts it first (decision 0006).
ACK_BUSY = 0.25
BUSY_LINGER = 0.05
BUSY_BATCH = 250


@dataclass(frozen=True)
class Backlog:
    depth: int
    limit: int

    @property
    def over(self) -> bool:
        return self.depth > self.limit


class ApplyQueue:
    def __init__(
        self,
        ctx: ServiceContext,
        credentials: CredentialCache,
        applier: Applier,
        report: Report,
        *,
        batch_size: int = APPLY_BATCH,
        backlog_limit: int = 50_000,
        linger: float = APPLY_LINGER,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ctx = ctx
        self._credentials = credentials
        self._applier = applier
        self._report = report  # told what each committed batch applied
        self._batch_size = batch_size
        self._linger = linger
        self._monotonic = monotonic
        self._sleep = sleep
        self._last_step_at = float("-inf")  # when the engine's last step that applied something ended
        self._acked_at = float("-inf")  # when bodies were last logged (`acked`)
        self.backlog_limit = backlog_limit
        self._lock = threading.Lock()  # one batch at a time in this process
        self._done = threading.Condition()  # notified after each batch this process applied
        self._depth_at = 0.0
        self.depth = 0
        self.over_limit = False
        self.batches = 0  # for tests and profiles

    # -- entry points --------------------------------------------------------------------------------

    def run(self) -> int:
        """The engine loop's step: apply batches until none is left (or BATCHES_PER_STEP)."""
        linger = BUSY_LINGER if self._ack_busy() else self._linger
        wait = self._last_step_at + linger - self._monotonic()
        if wait > 0:
            self._sleep(wait)
        done = 0
        for _ in range(BATCHES_PER_STEP):
            size = self._size()
            applied = self.apply_batch(size)
            done += len(applied)
            if len(applied) < size:
                break
        self._refresh_depth(force=done == 0)
        if done:
            self._last_step_at = self._monotonic()
        return done

    def drain(self) -> dict[int, IngestResult]:
        """Apply every logged body waiting, now, in the caller's thread (Simulator, tests, CLI)."""
        results: dict[int, IngestResult] = {}
        while True:
            applied = self.apply_batch()
            results.update((r.log_id, r) for r in applied if r.log_id is not None)
            if not applied:
                self._refresh_depth(force=True)
                return results

    def acked(self) -> None:
        """Bodies were just logged: webhooks arrive, so batches are bounded (`_size`)."""
        self._acked_at = self._monotonic()

    def _ack_busy(self) -> bool:
        return self._monotonic() - self._acked_at < ACK_BUSY and not self._ctx.db.is_postgres

    def _size(self) -> int:
        """SQLite: while webhooks arrive a batch takes at most BUSY_BATCH bodies, so a customer body
        logged behind it is claimed soon; otherwise (and on PostgreSQL, where several processes apply)
        as many bodies as a batch takes."""
        return min(self._batch_size, BUSY_BATCH) if self._ack_busy() else self._batch_size

    def apply_batch(self, size: int | None = None) -> list[IngestResult]:
        """Claim and apply the oldest waiting bodies (at most `size`) in one transaction; [] when none waits."""
        size = size or self._batch_size
        with self._lock:
            # Parsed and judged before the write transaction, so it holds SQLite's lock only to apply.
            judged = self._judge_waiting(size)
            try:
                results, sliced = self._attempt(size, judged, together=True)
            except Exception:
                # A body of the batch raised and the transaction rolled back (no savepoint costs the
                # batches that succeed): apply the bodies one at a time, each in a savepoint, so the
                # bad one is marked with its error and the others are applied.
                results, sliced = self._attempt(size, judged, together=False)
            if results:
                self.batches += 1
                self._after(results)
                self.notify_applied()
            if sliced is not None:
                while not sliced.step(self._ctx, self._applier, self._report):
                    pass
                metrics.webhooks_applied([(self._ctx.clock.now() - sliced.received_at).total_seconds()])
                results.append(sliced.result)
            return results

    def notify_applied(self) -> None:
        """A batch was applied, here or by this process's apply process: wake `wait_applied`."""
        with self._done:
            self._done.notify_all()

    def wait_applied(self, log_id: int, timeout: float = 5.0) -> bool:
        """Wait (at most `timeout` seconds) until the logged body `log_id` is applied, by this
        process or another; whether it is. For a face that shows the state a webhook leads to."""
        deadline = time.monotonic() + timeout
        while True:
            with self._ctx.db.read() as conn:
                if webhook_log.is_processed(conn, log_id):
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._done:  # woken by a batch here; another process's is seen on the next look
                self._done.wait(min(remaining, 0.05))

    # -- one batch -----------------------------------------------------------------------------------

    def _judge_waiting(self, size: int) -> dict[int, tuple[BodyToApply, bool]]:
        """The oldest waiting bodies parsed and judged, by log id, read without locking anything."""
        with self._ctx.db.read() as conn:
            rows = webhook_log.claim_unprocessed(conn, size, skip_locked=False)
            secrets: dict[str, str | None] = {}
            return {row.id: self._judged(conn, row, secrets) for row in rows}

    def _attempt(
        self, size: int, judged: dict[int, tuple[BodyToApply, bool]], *, together: bool
    ) -> tuple[list[IngestResult], SlicedBody | None]:
        ctx = self._ctx
        sliced: SlicedBody | None = None
        with webhook_log.applying(ctx.db) as batch:
            conn = batch.conn
            # The rows this transaction applies: on PostgreSQL another process may have taken some of
            # those judged above (they are skipped) or applied them (they are gone).
            ids = batch.claim(size)
            secrets: dict[str, str | None] = {}
            unread = batch.bodies([i for i in ids if i not in judged])  # PostgreSQL: logged since
            judged = {**judged, **{row.id: self._judged(conn, row, secrets) for row in unread}}
            bodies: list[BodyToApply] = []
            for log_id in ids:
                if log_id not in judged:
                    continue  # gone between the claim and the read (another process applied it)
                body, large = judged[log_id]
                if large:
                    # Applied in slices of their own transactions, after the bodies before it.
                    if not bodies:
                        sliced = SlicedBody(log_id, body.updates, body.verdict, body.received_at)
                        sliced.result.error = body.result.error
                    break
                body.result = IngestResult(log_id=body.log_id, error=body.result.error)  # a retry starts afresh
                bodies.append(body)
            channels: dict[str, Channel | None] = {}
            if together:
                self._applier.apply(conn, bodies, channels)
            else:
                for body in bodies:
                    self._apply_alone(conn, body, channels)
            now = ctx.clock.now()
            for b in bodies:
                batch.mark(b.log_id, now, b.result.to_outcome())
        metrics.webhooks_applied([(now - b.received_at).total_seconds() for b in bodies])
        return [b.result for b in bodies], sliced

    def _judged(self, conn: Connection, row: Pending, secrets: dict[str, str | None]) -> tuple[BodyToApply, bool]:
        prepared = prepare(row.body)
        if row.signature is None:
            verdict = TRUSTED  # logged by a caller that verified it (`Ingestor.ingest` without a signature)
        else:
            verdict = self._credentials.verdict(conn, prepared.batch, row.signature, row.body, secrets)
        result = IngestResult(log_id=row.id, error=prepared.error)
        return BodyToApply(row.id, prepared.updates, verdict, row.received_at, result), prepared.large

    def _apply_alone(self, conn: Connection, body: BodyToApply, channels: dict[str, Channel | None]) -> None:
        """One body in a savepoint: an error undoes it alone and marks it; an integrity error (two
        processes opening the same session at once) is retried against the other's rows."""
        for attempt in range(CONFLICT_RETRIES):
            body.result = IngestResult(log_id=body.log_id, error=body.result.error)
            try:
                with savepoint(conn):
                    self._applier.apply(conn, [body], channels)
                return
            except IntegrityError as exc:
                channels.clear()
                if attempt == CONFLICT_RETRIES - 1:
                    body.result.error = f"IntegrityError: {exc.orig}"
            except Exception as exc:  # the body is kept for re-processing whatever went wrong
                log.exception("webhook %s could not be applied", body.log_id)
                body.result = IngestResult(log_id=body.log_id, error=f"{type(exc).__name__}: {exc}")
                return

    def _after(self, results: list[IngestResult]) -> None:
        try:
            self._report(results)
        except Exception:  # committed is committed
            log.exception("waking the engine after applying webhooks failed")

    # -- backpressure --------------------------------------------------------------------------------

    def backlog(self) -> Backlog:
        """The backlog counted now (for /readyz); also updates the gauge and the log line."""
        self._refresh_depth(force=True)
        return Backlog(self.depth, self.backlog_limit)

    def _refresh_depth(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._depth_at < DEPTH_EVERY:
            return
        with self._ctx.db.read() as conn:
            self.observe_depth(webhook_log.backlog(conn))

    def observe_depth(self, depth: int) -> bool:
        """Record the backlog's depth; True while it is over the limit. Said once in the log each
        time it passes the limit, and once when it is back under (by the process that applies)."""
        self._depth_at = time.monotonic()
        self.depth = depth
        metrics.APPLY_BACKLOG.set(depth)
        over = depth > self.backlog_limit
        if over != self.over_limit:
            self.over_limit = over
            if over:
                log.warning(
                    "webhook apply backlog: %d bodies wait, over WASESSION_APPLY_BACKLOG_LIMIT=%d (/readyz: not ready)",
                    depth,
                    self.backlog_limit,
                )
            else:
                log.warning("webhook apply backlog back under its limit: %d bodies wait", depth)
        return over

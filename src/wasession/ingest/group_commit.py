"""One writer thread that stores and applies every verified body waiting, in one transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING

from wasession.ingest.credentials import SignatureRejected
from wasession.ingest.result import IngestResult
from wasession.ingest.slices import SlicedBody, prepare
from wasession.observability import metrics
from wasession.store.channels import Channel
from wasession.store.db import IntegrityError

if TYPE_CHECKING:
    from wasession.ingest.ingestor import Ingestor

log = logging.getLogger(__name__)

MAX_GROUP = 200  # bodies per group-commit transaction

_Waiting = tuple[bytes, str | None, Future[IngestResult]]
_Outcome = IngestResult | SlicedBody | Exception


class _Careful(Exception):
    """A body of an optimistic group raised: roll back, write the group with savepoints."""


class GroupCommit:
    """One writer thread that stores and applies every verified body waiting, in one transaction.

    SQLite has one writer; many request threads each taking the write lock for one body spend
    most of their time handing the lock over (and sleeping in SQLite's busy handler). Here the
    requests queue in memory, and the writer takes all that are waiting — each body in its own
    savepoint (`Ingestor.ingest_in`), so one bad body never fails the others — commits once, and
    only then resolves every request's future: a 2xx still means stored and applied. A body that
    raises gets its exception, with nothing of it stored. If the group transaction itself fails
    (a lost connection, a failed commit), nothing of it was stored, and each body is tried again
    in a transaction of its own.

    The batch is whatever arrived while the previous one was being written, so at a low rate
    every body is written alone at once, and under load the batches grow with the queue.

    A large body is only logged in the group; its slices (`SlicedBody`) then take turns with the
    groups that arrive meanwhile, one slice between two groups, so small webhooks wait for at most
    one slice instead of the whole body.
    """

    def __init__(self, ingestor: Ingestor, *, max_batch: int = MAX_GROUP, idle_exit: float = 30.0) -> None:
        self._ingestor = ingestor
        self._max_batch = max_batch
        self._idle_exit = idle_exit  # the thread ends when idle this long and starts again on demand
        self._cond = threading.Condition()
        self._waiting: deque[_Waiting] = deque()
        self._sliced: deque[SlicedBody] = deque()  # touched by the writer thread only
        self._thread: threading.Thread | None = None
        self.groups = 0  # for tests and profiles: transactions written
        self.largest = 0

    def submit(self, raw: bytes, signature: str | None) -> Future[IngestResult]:
        future: Future[IngestResult] = Future()
        with self._cond:
            self._waiting.append((raw, signature, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasession-ingest", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        return future

    def _take(self) -> list[_Waiting] | None:
        """The next group; [] when none waits but slices do; None: time for the thread to end."""
        with self._cond:
            if not self._waiting and not self._sliced:
                self._cond.wait(self._idle_exit)
            if not self._waiting:
                if self._sliced:
                    return []
                self._thread = None  # submit() starts a new one
                return None
            n = min(len(self._waiting), self._max_batch)
            return [self._waiting.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            if group:
                try:
                    self._write(group)
                except BaseException as exc:  # never leave a request waiting forever
                    log.exception("webhook group commit failed")
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc)
            if self._sliced:
                self._step_slice()

    def _step_slice(self) -> None:
        sliced = self._sliced[0]
        try:
            finished = sliced.step(self._ingestor)
        except BaseException as exc:
            log.exception("webhook %s: applying a slice failed", sliced.log_id)
            finished = True
            if sliced.future is not None and not sliced.future.done():
                sliced.future.set_exception(exc)
        if finished:
            self._sliced.popleft()
            if sliced.future is not None and not sliced.future.done():
                sliced.future.set_result(sliced.result)

    def _write(self, group: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            try:
                # Optimistic: no savepoints (they cost about as much as a body's own statements).
                outcomes = self._attempt(group, careful=False)
            except _Careful:
                # A body raised while applying: the group was rolled back; again, each body in a
                # savepoint of its own, so that one keeps its raw log and fails alone.
                outcomes = self._attempt(group, careful=True)
        except Exception:
            if len(group) == 1:
                raise
            log.exception("webhook group of %d could not be committed; writing each alone", len(group))
            for raw, signature, future in group:
                try:
                    future.set_result(self._ingestor.ingest(raw, signature))
                except Exception as exc:
                    future.set_exception(exc)
            return
        self.groups += 1
        self.largest = max(self.largest, len(group))
        elapsed = time.perf_counter() - started
        # The engine is woken (a few Event.set calls) before the answers go out, so a client that
        # has its 200 knows the loops have been told.
        try:
            self._ingestor.after_commit([o for o in outcomes if isinstance(o, IngestResult)])
        except Exception:  # committed is committed: a failed wake-up must not turn the 200s into errors
            log.exception("waking the engine after a webhook group failed")
        for (_, _, future), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, SlicedBody):
                outcome.future = future  # answered after its last slice
                self._sliced.append(outcome)
            elif isinstance(outcome, IngestResult):
                metrics.INGEST_LATENCY.observe(elapsed)
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _attempt(self, group: list[_Waiting], *, careful: bool) -> list[_Outcome]:
        ingestor = self._ingestor
        outcomes: list[_Outcome] = []
        with ingestor.ctx.db.write() as conn:
            channels: dict[str, Channel | None] = {}
            for raw, signature, _ in group:
                prepared = prepare(raw)
                # Judged again against the secrets stored now: one rotated a moment ago (by any
                # process) no longer signs, though the request was checked before it queued.
                try:
                    verdict = ingestor.verdict(conn, prepared, signature)
                except SignatureRejected as exc:
                    outcomes.append(exc)
                    continue
                if prepared.large:
                    replay = ingestor.replay_of(conn, raw)
                    outcomes.append(replay or ingestor.log_for_slices(conn, prepared, signature, verdict))
                    continue
                if not careful:
                    try:
                        outcomes.append(
                            ingestor.ingest_in(
                                conn,
                                raw,
                                channels,
                                careful=False,
                                signature=signature,
                                verdict=verdict,
                                prepared=prepared,
                            )
                        )
                    except Exception as exc:
                        raise _Careful from exc
                    continue
                try:
                    outcomes.append(
                        ingestor.ingest_in(conn, raw, channels, signature=signature, verdict=verdict, prepared=prepared)
                    )
                except IntegrityError as exc:
                    outcomes.append(exc)
        return outcomes

"""The outbox sender: delivers pending outbound messages, at most once each.

A message goes pending -> sending (committed before the request leaves) -> accepted/failed. A row
found in `sending` after a crash may or may not have reached Meta, so it becomes `unknown` and is
never sent again. Reminders are re-checked against R6 at the moment of sending.

The requests run as tasks on an event loop of their own (`whatsapp/wire.py`: a thread per request cost
a third of `serve`'s CPU at 1,000 sends a second); a client without a wire (the in-process fake's,
a Chatwoot connection's) runs its blocking call in a thread of the sender's pool.

Channels are isolated from each other: a channel whose Graph origin is slow or hangs keeps only its own
messages waiting. Its requests never take more than `concurrency` of the sends in flight (there is a
reserve beyond that), and the loop records whatever has finished without waiting for the stragglers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbox import claim, record, request
from wasession.outbox.jobs import Attempt, Deferred, Job, SendReport
from wasession.outbox.limits import MAX_SLOT_WAIT, ChannelLimits, RecipientPacer
from wasession.outbox.ratelimit import SharedRateLimiter
from wasession.store import outbox as outbox_store
from wasession.store.channels import Channel, ChannelCache
from wasession.store.db import Connection
from wasession.whatsapp.client import CloudClient, SendResult
from wasession.whatsapp.wire import Wire

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=5)
# Claim rounds per run_pending call, so a steady stream still returns control to the loop (stop, wake).
MAX_ROUNDS = 200
# How long the loop waits for the oldest batch before recording what has finished and moving on; Meta
# answers in a fraction of this, so only a slow or hanging origin leaves stragglers behind.
STRAGGLER_WAIT = 0.05
# While only stragglers are in flight, how often the loop looks for newly ready messages.
POLL_WHILE_WAITING = 0.1

ClientFactory = Callable[[Channel], CloudClient]


@dataclass(frozen=True)
class _Flight:
    job: Job
    future: Future[Attempt]


class Sender:
    def __init__(
        self,
        ctx: ServiceContext,
        client_for: ClientFactory,
        *,
        batch_size: int = 200,
        concurrency: int = 16,
        limiter: SharedRateLimiter | None = None,
        wire: Wire | None = None,
    ) -> None:
        self.ctx = ctx
        self.client_for = client_for
        self.batch_size = batch_size
        self.concurrency = concurrency  # requests one channel may have in flight
        self.limiter = limiter  # shared by the processes on PostgreSQL; None: this process's held slots only
        self.pacer = RecipientPacer()
        self.channels = ChannelCache()  # each claim reads the rows; a policy is parsed again only when changed
        self.limits = ChannelLimits(ctx.clock, limiter)
        # Sends beyond `concurrency` for the other channels while one channel's origin holds all of its own.
        self.reserve = max(2, concurrency // 4)
        # The loop the requests run on: the runtime's, shared with its Graph transport; else one of its own.
        self._wire = wire or Wire("wasession-send")
        self._own_wire = wire is None
        # Blocking calls (a client without a wire, the shared limiter's SQL); threads start only when used.
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency + self.reserve, thread_name_prefix="wasession-send-blocking"
        )
        self._round = 0  # which channel goes first in the next claim, so none is always last
        self.stopping = threading.Event()  # set on shutdown: record the batch in flight, claim no more

    def close(self) -> None:
        if self._own_wire:
            self._wire.close()
        self._pool.shutdown(wait=True)

    def next_attempt_at(self) -> datetime | None:
        """When the outbox next has work, ignoring paused channels (their messages wait for new
        credentials, not for a time). Per channel, index probes only: the outbox may hold a
        million pending messages."""
        with self.ctx.db.read() as conn:
            heads = outbox_store.heads(conn)
        if any(head.ready for head in heads):
            return self.ctx.clock.now()  # messages never deferred are ready as soon as they exist
        return min((head.earliest for head in heads if head.earliest is not None), default=None)

    def recover_stuck(self) -> int:
        """Rows left in `sending` by a dead process: their outcome is unknown (at-most-once)."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            return record.recover_stuck(conn, now - STUCK_AFTER, now)

    def run_pending(self) -> SendReport:
        """Claim, send and record until nothing is ready. Two batches are in flight: while one is
        on the wire, the other's outcomes are recorded and the next batch is claimed, in one
        transaction, so the database work overlaps the requests and the sender takes the write
        lock once per batch. A request still unanswered when its batch's turn comes stays in flight
        as a straggler, recorded when it ends, and counts against its channel's room."""
        report = SendReport()
        batches: deque[list[_Flight]] = deque()
        stragglers: list[_Flight] = []
        rounds = 0
        idle = False  # the last claim found nothing to send
        while True:
            if len(batches) == 2 or (idle and batches):
                oldest = batches.popleft()
                wait([f.future for f in oldest], timeout=STRAGGLER_WAIT)
                stragglers.extend(oldest)
            elif idle and stragglers:
                wait([f.future for f in stragglers], timeout=POLL_WHILE_WAITING, return_when=FIRST_COMPLETED)
            done, stragglers = _finished(stragglers)
            stop = self.stopping.is_set() or rounds >= MAX_ROUNDS
            in_flight = Counter(f.job.channel.id for f in _flights(batches, stragglers))
            with self.ctx.db.write() as conn:
                if done:
                    self._record(conn, done, report)
                jobs, claimed = ([], 0) if stop else self._claim(conn, in_flight, report)
            rounds += 1 if claimed else 0  # polls while only stragglers are out do not use up the rounds
            if jobs:
                batches.append(self._start(jobs))
            # Every claimed row leaves the ready set (sending, skipped or due later), so this ends.
            idle = not claimed
            if idle and not batches and not stragglers:
                return report

    def _claim(self, conn: Connection, in_flight: Counter[int], report: SendReport) -> tuple[list[Job], int]:
        now = self.ctx.clock.now()
        ready = claim.ready_channels(conn, now, self.channels)
        if not ready:
            return [], 0
        self._round = (self._round + 1) % len(ready)
        ready = ready[self._round :] + ready[: self._round]
        # Two batches are in flight at a time (one on the wire, one being recorded), each at most
        # half of `concurrency`: a crash leaves few sends `unknown`, and rows wait in `sending` only
        # for a free worker, never for a rate-limit slot far ahead.
        # Stragglers count too: no claimed row waits for a thread.
        free = self.concurrency + self.reserve - sum(in_flight.values())
        batch = min(max(1, min(self.batch_size, self.concurrency // 2)), free)
        if batch <= 0:
            return [], 0
        room = claim.Room(batch=batch, per_channel=self.concurrency, in_flight=in_flight)
        return claim.claim(conn, self.ctx, self.pacer, ready, room, now, report, self.channels)

    # -- the request itself, outside any transaction ---------------------------------------------

    def _start(self, jobs: list[Job]) -> list[_Flight]:
        """The batch's requests, started on the wire's loop in one hand-over. Each channel's client is chosen
        here, once a batch, in the sender's thread: choosing may read the database."""
        chosen: dict[int, CloudClient] = {}
        for job in jobs:
            if job.channel.id not in chosen:
                chosen[job.channel.id] = self.client_for(job.channel)
        clients = [chosen[job.channel.id] for job in jobs]
        futures = self._wire.start(
            [partial(self._send, client, job) for client, job in zip(clients, jobs, strict=True)]
        )
        return [_Flight(job, future) for job, future in zip(jobs, futures, strict=True)]

    async def _send(self, client: CloudClient, job: Job) -> Attempt:
        deferred = await self._take_slot(job.channel)
        if deferred is not None:
            return deferred
        began = time.monotonic()
        try:
            return await request.send_async(client, job, self._in_thread)
        except Exception as exc:  # every outcome is recorded; nothing escapes the loop
            return exc
        finally:
            metrics.send_answered(time.monotonic() - began)
            self.limits.release(job.channel)

    async def _take_slot(self, channel: Channel) -> Deferred | None:
        """A rate-limit slot for one request: None once held, else when to try again. A wait of up to
        MAX_SLOT_WAIT (real clock only) is a sleep on the loop; the shared limiter asks PostgreSQL, in
        a thread."""
        while True:
            now = self.limits.clock.now()
            if self.limits.shared is None:
                later = self.limits.try_take(channel, now)
            else:
                later = await asyncio.get_running_loop().run_in_executor(self._pool, self.limits.try_take, channel, now)
            if later is None:
                return None
            if not self.limits.clock.is_real or later - now > MAX_SLOT_WAIT:
                return Deferred(later)
            await asyncio.sleep(max(0.001, (later - now).total_seconds()))

    async def _in_thread(self, call: Callable[[], SendResult]) -> SendResult:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def _record(self, conn: Connection, done: list[_Flight], report: SendReport) -> None:
        attempts = [f.future.result() for f in done]
        record.record_attempts(conn, [f.job for f in done], attempts, self.ctx.clock.now(), report, self.pacer)


def _finished(flights: list[_Flight]) -> tuple[list[_Flight], list[_Flight]]:
    """Split once, so a request finishing meanwhile lands in exactly one of the two."""
    done: list[_Flight] = []
    waiting: list[_Flight] = []
    for flight in flights:
        (done if flight.future.done() else waiting).append(flight)
    return done, waiting


def _flights(batches: Iterable[list[_Flight]], stragglers: list[_Flight]) -> Iterable[_Flight]:
    for batch in batches:
        yield from batch
    yield from stragglers

"""The ack path's writer: one thread appending every verified body waiting, in one transaction.

A 2xx means the raw body is durable (committed to the webhook log), not that it is applied: the
apply queue (`apply_queue.py`) applies logged bodies right behind, in batches.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime

from wasession.ingest.gate import AckGate, Refused
from wasession.ingest.result import IngestResult
from wasession.lifecycle.context import ServiceContext
from wasession.store import webhook_log
from wasession.store.db import Connection, IntegrityError

log = logging.getLogger(__name__)

MAX_GROUP = 500  # bodies per group-commit transaction
# Bodies waiting in memory for the writer at most (up to 3 MB each, but most are a few hundred bytes):
# beyond it a request waits for room instead of the queue growing; the backlog lives in the database.
MAX_WAITING = 4000
CONFLICT_RETRIES = 3

# A thread waits on a concurrent future; the ack path, on its event loop, on one of the loop's own.
Promise = Future[IngestResult] | asyncio.Future[IngestResult]
# (body, signature, kind, the secrets version it was judged under or None, its future)
_Waiting = tuple[bytes, str | None, int, int | None, Promise]
_Outcome = tuple[Promise, IngestResult | BaseException]
# Keys, not values: every change also says `"field": "messages"`. Inside a JSON string a quote is
# escaped, so these bytes are a key wherever they appear.
_STATUSES_KEY = re.compile(rb'"statuses"\s*:')
_MESSAGES_KEY = re.compile(rb'"messages"\s*:')


def body_kind(raw: bytes) -> int:
    """What a body carries, told from its bytes without parsing them: statuses only, or something
    a customer sent (or anything else). A body with a `messages` key anywhere counts as a
    customer's, which only moves it ahead: the kind orders the apply, never what it does."""
    if _STATUSES_KEY.search(raw) and not _MESSAGES_KEY.search(raw):
        return webhook_log.KIND_STATUSES
    return webhook_log.KIND_CUSTOMER


def log_bodies(conn: Connection, bodies: Sequence[tuple[bytes, str | None, int]], now: datetime) -> list[IngestResult]:
    """Append (body, signature, kind) not stored yet (a replay of stored bytes, or the same bytes
    twice in this group, is answered with the stored row's id): one SELECT and one INSERT for the
    whole group, on the webhook log (`Database.log`)."""
    digests = [webhook_log.body_hash(raw) for raw, _, _ in bodies]
    known = webhook_log.ids_of_hashes(conn, digests)
    fresh: dict[str, tuple[bytes, str, str | None, int]] = {}
    for (raw, signature, kind), digest in zip(bodies, digests, strict=True):
        if digest not in known:
            fresh.setdefault(digest, (raw, digest, signature, kind))
    new_ids = dict(zip(fresh, webhook_log.append_many(conn, list(fresh.values()), now), strict=True))
    results: list[IngestResult] = []
    for digest in digests:
        if digest in known:
            results.append(IngestResult(log_id=known[digest], replay=True))
        else:
            results.append(IngestResult(log_id=new_ids[digest], replay=not fresh.pop(digest, None)))
    return results


class GroupCommit:
    """Appends the bodies of concurrent requests in one transaction, then resolves their futures.

    SQLite has one writer; request threads each taking the write lock for one INSERT spend most of
    their time handing the lock over. Here requests queue in memory (at most `max_waiting`), the
    writer takes all that wait (at most `max_batch`), commits once, wakes the apply queue, and only
    then answers: a 2xx means the body is on disk. At a low rate every body is written alone at
    once; under load the groups grow with the queue. On PostgreSQL each process has its own writer.

    With a `gate`, bodies the event loop judged against the secrets in memory (`judged`: their
    version) are checked here, once per group: the version is read after every body of the group
    arrived and before any is logged, and a body judged under another is judged again; one refused
    then resolves its future with `Refused`. So a rotation committed before a body arrives always
    counts for it, and the event loop reads nothing for it.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        on_commit: Callable[[], None],
        *,
        gate: AckGate | None = None,
        max_batch: int = MAX_GROUP,
        max_waiting: int = MAX_WAITING,
        idle_exit: float = 30.0,
    ) -> None:
        self._ctx = ctx
        self._on_commit = on_commit
        self._gate = gate
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._idle_exit = idle_exit  # the thread ends when idle this long and starts again on demand
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # the writer waits for bodies
        self._room = threading.Condition(self._lock)  # submitters wait for room
        self._waiting: deque[_Waiting] = deque()
        self._thread: threading.Thread | None = None
        self.groups = 0  # for tests and profiles: transactions written
        self.largest = 0

    def submit(
        self,
        raw: bytes,
        signature: str | None,
        kind: int | None = None,
        *,
        wait: bool = True,
        judged: int | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Promise | None:
        """Queue a body for the next group; the future resolves after the commit. While
        `max_waiting` bodies are queued it waits for room (call it from a worker thread then), or
        with `wait=False` returns None at once. `kind`: `webhook_log.KIND_*`, told from the bytes
        when not given. `judged`: the secrets version the body was accepted under, checked again
        before it is logged. `loop`: the running event loop the call comes from; the future is then
        the loop's, and a group's futures on one loop are resolved in one call to it."""
        future: Promise = Future() if loop is None else loop.create_future()
        kind = body_kind(raw) if kind is None else kind
        with self._lock:
            while len(self._waiting) >= self._max_waiting:
                if not wait:
                    return None
                self._room.wait()
            self._waiting.append((raw, signature, kind, judged, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasession-ack", daemon=True)
                self._thread.start()
            else:
                self._ready.notify()
        return future

    def _take(self) -> list[_Waiting] | None:
        with self._lock:
            if not self._waiting:
                self._ready.wait(self._idle_exit)
            if not self._waiting:
                self._thread = None  # submit() starts a new one
                return None
            n = min(len(self._waiting), self._max_batch)
            group = [self._waiting.popleft() for _ in range(n)]
            self._room.notify_all()
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            try:
                group = self._still_valid(group)
                if not group:
                    continue
                results = self._write([(raw, signature, kind) for raw, signature, kind, _, _ in group])
            except BaseException as exc:  # never leave a request waiting forever
                log.exception("webhook group commit of %d failed", len(group))
                _settle([(future, exc) for *_, future in group])
                continue
            try:
                self._on_commit()
            except Exception:  # committed is committed: a failed wake-up must not turn the 200s into errors
                log.exception("waking the apply queue after a webhook group failed")
            _settle([(future, result) for (*_, future), result in zip(group, results, strict=True)])

    def _still_valid(self, group: list[_Waiting]) -> list[_Waiting]:
        """The bodies of `group` still accepted under the secrets as stored now; the others' futures
        resolved with `Refused`."""
        if self._gate is None or all(judged is None for _, _, _, judged, _ in group):
            return group
        current = self._gate.version()
        kept: list[_Waiting] = []
        refused: list[_Outcome] = []
        for waiting in group:
            raw, signature, _, judged, future = waiting
            if judged is not None and judged != current:
                decision = self._gate.judge(raw, signature or "")
                if not decision.accepted:
                    refused.append((future, Refused(decision)))
                    continue
            kept.append(waiting)
        _settle(refused)
        return kept

    def _write(self, bodies: list[tuple[bytes, str | None, int]]) -> list[IngestResult]:
        started = time.perf_counter()
        for attempt in range(CONFLICT_RETRIES):
            try:
                # The log's own writer: on SQLite a file apart, so an apply transaction never holds it.
                with self._ctx.db.log.write() as conn:
                    results = log_bodies(conn, bodies, self._ctx.clock.now())
                break
            except IntegrityError:
                # Another process stored one of these bytes at the same moment (PostgreSQL): the
                # retry finds its row and answers with it.
                if attempt == CONFLICT_RETRIES - 1:
                    raise
        self.groups += 1
        self.largest = max(self.largest, len(bodies))
        log.debug("logged %d webhook bodies in %.1f ms", len(bodies), (time.perf_counter() - started) * 1000)
        return results


def _settle(outcomes: list[_Outcome]) -> None:
    """Each future given its outcome: a thread's at once; an event loop's in one call on that loop for the
    whole group, so a group of 500 acks wakes the loop once instead of 500 times."""
    on_loops: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for future, outcome in outcomes:
        if isinstance(future, asyncio.Future):
            on_loops.setdefault(future.get_loop(), []).append((future, outcome))
        else:
            _set(future, outcome)
    for loop, owned in on_loops.items():
        try:
            loop.call_soon_threadsafe(_set_all, owned)
        except RuntimeError:  # the loop has closed (serve stopped): nobody waits for these answers
            log.debug("webhook group committed after its event loop closed; %d answers dropped", len(owned))


def _set_all(outcomes: list[_Outcome]) -> None:
    for future, outcome in outcomes:
        _set(future, outcome)


def _set(future: Promise, outcome: IngestResult | BaseException) -> None:
    if future.done():  # an event loop's future cancelled: its request went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

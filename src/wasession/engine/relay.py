"""The webhook relay worker: every forward target is given the raw log's bodies, in id order, one at a time.

Nothing here runs on the request path. A step leases each due target (one process delivers a target at a
time, on PostgreSQL across processes too), hands it to a small pool and returns; a target POSTs its bodies
one after another, each call with a total deadline (outbound/http.py), so a hanging target holds one
thread and its own cursor, never ingest or another target.

A body is given to a target only if the change kinds it asked for are in it for its channel's number and
the body's signature is valid under that channel's app secret: re-signing a body that Meta did not sign
would vouch for a forgery. Otherwise the cursor simply moves past it.

PostgreSQL hands out ids before their transactions commit, so a smaller id can become visible after a
larger one. The cursor moves past a missing id only once the body after the gap is HORIZON old; a body
still in flight by then is the only one that could be skipped.

A body was verified when it arrived; a secret rotated since must not strand it (issue 25): a body the
apply already took for the target's number is forwarded as received, and one not applied yet whose
signature the current secret refuses waits for the apply (WAIT_FOR_APPLY) before it is refused. Nothing a
tenant sent can stop a target past its own row: a body that cannot be read (nested 50,000 deep, say) is
recorded as `skipped` with why, logged once, and the cursor moves on.

Fair sharing and memory (issue 25): targets run on a FairPool (a workspace holds at most its share of the
threads), a target's step ends after STEP_SECONDS or STEP_BYTES sent, and the log is read BATCH_BYTES at a
time, so eight replaying targets over 3 MB bodies hold tens of megabytes, not a gigabyte.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from wasession.domain.durations import doubling
from wasession.domain.relay import ACCOUNT_UPDATES, kinds_for
from wasession.engine.fair_pool import STEP_SECONDS, round_robin
from wasession.engine.outbound_pool import OutboundPool, Post, StepReport
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbound.addresses import AddressPolicy, Resolver, system_resolver
from wasession.outbound.http import DEADLINE_SECONDS, OutboundResult, guarded_post
from wasession.store import channels as channel_store
from wasession.store import forwards as forward_store
from wasession.store.forwards import GIVE_UP_AFTER, LogRow, Target
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign, signature_matches

log = logging.getLogger(__name__)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None  # glibc only


_LIBC = _libc() if sys.platform.startswith("linux") else None
TRIM_AFTER_BYTES = 1024 * 1024


def _trim_heap() -> None:
    """Hand freed heap back to the system. glibc raises its mmap threshold after a large block is freed,
    so the next 3 MB bodies come from per-thread arenas it keeps: 8 targets replaying them kept ~60 MB
    after the step was long over (issue 25). Called after a step that read a megabyte or more."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


HORIZON = timedelta(seconds=30)
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
# Longer than one call can take at its deadline; each recorded body extends it. A process that died
# holding it (SIGKILL) delays its targets this long, unless it ran on this host (_reclaim_dead_local).
LEASE = timedelta(seconds=30)
POOL_SIZE = 8
PER_WORKSPACE = POOL_SIZE // 2  # threads one workspace's targets may hold at once (a setting in serve)
BATCH_BYTES = 4 * 1024 * 1024  # log bytes one target reads at a time (at least one body)
BATCH_ROWS = 200  # and at most this many rows, whatever their size
STEP_BYTES = 16 * 1024 * 1024  # bytes one target sends per step, so a backlog still returns its thread
DUE_LIMIT = 1000  # due targets looked at per step (ids only), so every workspace's are among them
# A body not applied yet whose signature the channel's current secret refuses: the apply (which verified
# it against the secret of its time) is waited for this long, then it is refused.
WAIT_FOR_APPLY = timedelta(minutes=10)
APPLY_POLL = timedelta(seconds=2)
LOG_ID_HEADER = "X-Wasession-Log-Id"
LAG_EVERY = 5.0


def _alive(owner: str) -> bool:
    pid = owner.rpartition(":")[2]
    if not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    return True


def retry_delay(attempts: int) -> timedelta:
    """After the `attempts`-th failure of a body: 10 s, 20 s, 40 s … at most an hour, until 7 days."""
    return doubling(attempts, FIRST_RETRY, MAX_RETRY)


@dataclass(frozen=True)
class _Job:
    target: Target
    phone_number_id: str
    app_secret: str
    own_secret: str | None

    def __repr__(self) -> str:  # never print the secrets
        return f"_Job(target={self.target.id})"


class Relay(OutboundPool):
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        owner: str,
        policy: AddressPolicy | None = None,
        resolver: Resolver = system_resolver,
        post: Post | None = None,
        deadline: float = DEADLINE_SECONDS,
        pool_size: int = POOL_SIZE,
        per_workspace: int = PER_WORKSPACE,
        wait: bool = True,
    ) -> None:
        super().__init__(
            ctx,
            thread_name="relay",
            policy=policy,
            resolver=resolver,
            post=post,
            deadline=deadline,
            pool_size=pool_size,
            per_workspace=per_workspace,
            wait=wait,
        )
        self.owner = owner
        self._lag_at = float("-inf")
        self._reclaimed = False

    def next_attempt_at(self) -> datetime | None:
        if self._waiting_for_room and not self.wait:  # a finished target wakes the loop (on_done): no spin
            return None
        with self.ctx.db.read() as conn:
            return forward_store.next_due(conn, self.ctx.clock.now())

    def run_pending(self) -> StepReport:
        report = StepReport()
        if not self._reclaimed:
            self._reclaim_dead_local()
        self._refresh_lag()
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:
            due = forward_store.next_due(conn, now)
        if due is None or due > now:  # a read first, so an idle loop never takes SQLite's write lock
            return report
        with self.ctx.db.read() as conn:
            due_targets = forward_store.due_targets(conn, now, DUE_LIMIT)
        futures: list[Future[None]] = []
        self._waiting_for_room = False
        for target_id, workspace_id in round_robin(due_targets, lambda t: t[1]):
            if not self._pool.take(workspace_id):
                self._waiting_for_room = True
                continue
            try:
                job = self._lease(target_id, now)
            except BaseException:
                self._pool.give_back(workspace_id)
                raise
            if job is None:
                self._pool.give_back(workspace_id)
                continue
            futures.append(self._pool.submit(workspace_id, partial(self._deliver, job, report), self._then))
        if self.wait:
            for future in futures:
                future.result()
        else:
            report.queued = sum(1 for f in futures if not f.done())
        return report

    # -- internals -----------------------------------------------------------------------------------------

    def _lease(self, target_id: int, now: datetime) -> _Job | None:
        if not self._take(target_id):
            return None
        try:
            with self.ctx.db.write() as conn:
                if not forward_store.take_lease(conn, target_id, self.owner, now, now + LEASE):
                    self._release(target_id)
                    return None
                target = forward_store.get_target(conn, target_id)
                channel = channel_store.get(conn, target.channel_id) if target else None
                if target is None or channel is None:
                    self._release(target_id)
                    return None
                secrets = channel_store.secrets_of(conn, self.ctx.box, channel.id)
                own = forward_store.secret_of(conn, self.ctx.box, target_id)
        except BaseException:
            self._release(target_id)
            raise
        return _Job(target, channel.phone_number_id, secrets.app_secret, own)

    def _reclaim_dead_local(self) -> None:
        """Leases held by a process of this host that no longer exists (killed `serve`): free now."""
        self._reclaimed = True
        host = self.owner.rpartition(":")[0]
        with self.ctx.db.read() as conn:
            owners = forward_store.lease_owners(conn)
        dead = [o for o in owners if o != self.owner and o.rpartition(":")[0] == host and not _alive(o)]
        if dead:
            with self.ctx.db.write() as conn:
                for owner in dead:
                    forward_store.release_leases_of(conn, owner)
            log.info("relay: freed the leases of %s, no longer running", ", ".join(dead))

    def _deliver(self, job: _Job, report: StepReport) -> None:
        target_id = job.target.id
        read = [0]
        try:
            self._deliver_in_order(job, report, read)
        except Exception:  # a database error: the lease runs out and the target is tried again
            log.exception("relay target %s stopped", target_id)
        finally:
            try:
                with self.ctx.db.write() as conn:
                    forward_store.release_lease(conn, target_id, self.owner)
            except Exception:
                log.exception("relay target %s: could not release its lease", target_id)
            self._release(target_id)
            if read[0] >= TRIM_AFTER_BYTES:
                _trim_heap()

    def _deliver_in_order(self, job: _Job, report: StepReport, read: list[int]) -> None:
        """`read[0]`: the log bytes this step read, for the caller to decide on trimming the heap."""
        target = job.target
        cursor, attempts = target.cursor, target.attempts
        began, sent = time.monotonic(), 0
        while True:
            with self.ctx.db.read() as conn:
                rows = forward_store.log_after(conn, cursor, max_bytes=BATCH_BYTES, max_rows=BATCH_ROWS)
            if not rows:
                return
            read[0] += sum(len(row.body) for row in rows)
            skipped_to = cursor
            for row in rows:
                now = self.ctx.clock.now()
                if row.id != skipped_to + 1 and row.received_at > now - HORIZON:
                    # A smaller id may still commit: wait until the body after the gap is HORIZON old.
                    self._advance(job, cursor, skipped_to, 0, row.received_at + HORIZON)
                    return
                verdict, why = self._verdict(job, row, now)
                if verdict == "wait":
                    self._advance(job, cursor, skipped_to, 0, now + APPLY_POLL)
                    return
                if verdict != "forward":
                    if why is not None:
                        self._refused(job, row, why)
                    skipped_to = row.id
                    report.count("skipped")
                    continue
                if skipped_to != cursor:  # the skipped bodies are behind us before this one goes out
                    if not self._advance(job, cursor, skipped_to, 0, None):
                        return
                    cursor, attempts = skipped_to, 0
                outcome, next_at = self._attempt(job, row, attempts + 1)
                report.count(outcome)
                sent += len(row.body)
                if outcome == "failed":
                    self._advance(job, cursor, cursor, attempts + 1, next_at)
                    return
                if not self._advance(job, cursor, row.id, 0, None):
                    return
                cursor = skipped_to = row.id
                attempts = 0
                if sent >= STEP_BYTES or time.monotonic() - began >= STEP_SECONDS:
                    return  # the step's share is used: the thread goes back, the target stays due
            if skipped_to != cursor:
                if not self._advance(job, cursor, skipped_to, 0, None):
                    return
                cursor, attempts = skipped_to, 0
            del rows  # released before the next batch is read
            if time.monotonic() - began >= STEP_SECONDS:
                return

    def _verdict(self, job: _Job, row: LogRow, now: datetime) -> tuple[str, str | None]:
        """forward | pass (nothing in it for this target) | refuse, with why (recorded) | wait (for the
        apply to say whether the body was verified when it arrived)."""
        try:
            found = kinds_for(row.body, job.phone_number_id)
        except Exception as exc:  # RecursionError on deep nesting: the body is unreadable, not the relay
            if job.phone_number_id.encode() not in row.body:
                return "pass", None  # another tenant's body: nothing of it in this target's log
            return "refuse", f"unreadable_body: {type(exc).__name__}"[:64]
        if not set(job.target.fields) & found:
            return "pass", None
        if signature_matches(job.app_secret, row.body, row.signature):
            return "forward", None
        named = bool(found - {ACCOUNT_UPDATES})
        if row.not_applied is not None:
            if named and job.phone_number_id not in row.not_applied:
                return "forward", None  # verified by the apply, under the secret of its time
            return "refuse", "signature_not_valid"
        if now - row.received_at < WAIT_FOR_APPLY:
            return "wait", None
        return "refuse", "signature_not_valid"

    def _refused(self, job: _Job, row: LogRow, why: str) -> None:
        """Recorded as a `skipped` attempt and logged once: the cursor moves past it right after."""
        log.warning("relay target %s: log id %s not forwarded (%s)", job.target.id, row.id, why)
        with self.ctx.db.write() as conn:
            forward_store.record_attempt(
                conn,
                target_id=job.target.id,
                log_id=row.id,
                attempt=1,
                at=self.ctx.clock.now(),
                outcome="skipped",
                status_code=None,
                error=why,
                duration_ms=0,
            )
        metrics.relay_attempt("skipped")

    def _advance(self, job: _Job, expected: int, cursor: int, attempts: int, next_at: datetime | None) -> bool:
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            return forward_store.advance(
                conn,
                job.target.id,
                self.owner,
                expected_cursor=expected,
                cursor=cursor,
                attempts=attempts,
                next_attempt_at=next_at,
                lease_until=now + LEASE,
            )

    def _attempt(self, job: _Job, row: LogRow, attempt: int) -> tuple[str, datetime | None]:
        """POST one body and record the attempt: (delivered | failed | given_up, the retry time)."""
        signature = sign(job.own_secret, row.body) if job.own_secret else row.signature
        headers = {"Content-Type": "application/json", "User-Agent": "wasession-relay", LOG_ID_HEADER: str(row.id)}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        began = time.monotonic()
        result = self._send(job.target.url, row.body, headers)
        duration_ms = int((time.monotonic() - began) * 1000)
        now = self.ctx.clock.now()
        give_up_at = row.received_at + GIVE_UP_AFTER
        next_at: datetime | None = None
        if result.ok:
            outcome = "delivered"
        elif now >= give_up_at:
            outcome = "given_up"
        else:
            outcome = "failed"
            next_at = min(now + retry_delay(attempt), give_up_at)
        with self.ctx.db.write() as conn:
            forward_store.record_attempt(
                conn,
                target_id=job.target.id,
                log_id=row.id,
                attempt=attempt,
                at=now,
                outcome=outcome,
                status_code=result.status,
                error=result.error,
                duration_ms=duration_ms,
            )
        metrics.relay_attempt(outcome)
        if outcome != "delivered":
            log.info("relay target %s, log id %s, attempt %s: %s", job.target.id, row.id, attempt, outcome)
        return outcome, next_at

    def _send(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResult:
        if self._post is not None:
            return self._post(url, body, headers)
        return guarded_post(url, body, headers, policy=self.policy, resolver=self.resolver, deadline=self.deadline)

    def _refresh_lag(self) -> None:
        """At most every LAG_EVERY seconds of real time, whatever the clock."""
        if time.monotonic() - self._lag_at < LAG_EVERY:
            return
        self._lag_at = time.monotonic()
        with self.ctx.db.read() as conn:
            metrics.set_relay_lag(forward_store.lag(conn))

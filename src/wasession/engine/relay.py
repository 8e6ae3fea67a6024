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
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta

from wasession.domain.durations import doubling
from wasession.domain.relay import kinds_for
from wasession.engine.outbound_pool import OutboundPool, Post
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbound.addresses import AddressPolicy, Resolver, system_resolver
from wasession.outbound.http import DEADLINE_SECONDS, OutboundResult, guarded_post
from wasession.store import channels as channel_store
from wasession.store import forwards as store
from wasession.store.forwards import GIVE_UP_AFTER, LogRow, Target
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign, signature_matches

log = logging.getLogger(__name__)

HORIZON = timedelta(seconds=30)
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
# Longer than one call can take at its deadline; each recorded body extends it. A process that died
# holding it (SIGKILL) delays its targets this long, unless it ran on this host (_reclaim_dead_local).
LEASE = timedelta(seconds=30)
POOL_SIZE = 8
BATCH = 50  # log rows read at a time
PER_STEP = 200  # bodies one target is given per step, so a backlog still returns its thread
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


class RelayReport:
    """What one step did, counted by outcome (delivered, failed, given_up, skipped) from the pool's
    threads; `queued`: targets handed to the pool and not finished when the step returned."""

    def __init__(self) -> None:
        self.queued = 0
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return self.queued + sum(self.outcomes.values())

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1


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
            wait=wait,
        )
        self.owner = owner
        self._lag_at = float("-inf")
        self._reclaimed = False

    def next_attempt_at(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return store.next_due(conn, self.ctx.clock.now())

    def run_pending(self) -> RelayReport:
        report = RelayReport()
        if not self._reclaimed:
            self._reclaim_dead_local()
        self._refresh_lag()
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:
            due = store.next_due(conn, now)
        if due is None or due > now:  # a read first, so an idle loop never takes SQLite's write lock
            return report
        with self.ctx.db.read() as conn:
            target_ids = store.due_targets(conn, now, POOL_SIZE * 4)
        futures: list[Future[None]] = []
        for target_id in target_ids:
            job = self._lease(target_id, now)
            if job is not None:
                futures.append(self._pool.submit(self._deliver, job, report))
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
                if not store.take_lease(conn, target_id, self.owner, now, now + LEASE):
                    self._release(target_id)
                    return None
                target = store.get_target(conn, target_id)
                channel = channel_store.get(conn, target.channel_id) if target else None
                if target is None or channel is None:
                    self._release(target_id)
                    return None
                secrets = channel_store.secrets_of(conn, self.ctx.box, channel.id)
                own = store.secret_of(conn, self.ctx.box, target_id)
        except BaseException:
            self._release(target_id)
            raise
        return _Job(target, channel.phone_number_id, secrets.app_secret, own)

    def _reclaim_dead_local(self) -> None:
        """Leases held by a process of this host that no longer exists (killed `serve`): free now."""
        self._reclaimed = True
        host = self.owner.rpartition(":")[0]
        with self.ctx.db.read() as conn:
            owners = store.lease_owners(conn)
        dead = [o for o in owners if o != self.owner and o.rpartition(":")[0] == host and not _alive(o)]
        if dead:
            with self.ctx.db.write() as conn:
                for owner in dead:
                    store.release_leases_of(conn, owner)
            log.info("relay: freed the leases of %s, no longer running", ", ".join(dead))

    def _deliver(self, job: _Job, report: RelayReport) -> None:
        target_id = job.target.id
        try:
            self._deliver_in_order(job, report)
        except Exception:  # a database error: the lease runs out and the target is tried again
            log.exception("relay target %s stopped", target_id)
        finally:
            try:
                with self.ctx.db.write() as conn:
                    store.release_lease(conn, target_id, self.owner)
            except Exception:
                log.exception("relay target %s: could not release its lease", target_id)
            self._release(target_id)
            if not self.wait:
                self.on_done()

    def _deliver_in_order(self, job: _Job, report: RelayReport) -> None:
        target = job.target
        cursor, attempts = target.cursor, target.attempts
        given = 0
        while given < PER_STEP:
            with self.ctx.db.read() as conn:
                rows = store.log_after(conn, cursor, BATCH)
            if not rows:
                return
            skipped_to = cursor
            for row in rows:
                now = self.ctx.clock.now()
                if row.id != skipped_to + 1 and row.received_at > now - HORIZON:
                    # A smaller id may still commit: wait until the body after the gap is HORIZON old.
                    self._advance(job, cursor, skipped_to, 0, row.received_at + HORIZON)
                    return
                if not self._wanted(job, row):
                    skipped_to = row.id
                    report.count("skipped")
                    continue
                if skipped_to != cursor:  # the skipped bodies are behind us before this one goes out
                    if not self._advance(job, cursor, skipped_to, 0, None):
                        return
                    cursor, attempts = skipped_to, 0
                outcome, next_at = self._attempt(job, row, attempts + 1)
                report.count(outcome)
                given += 1
                if outcome == "failed":
                    self._advance(job, cursor, cursor, attempts + 1, next_at)
                    return
                if not self._advance(job, cursor, row.id, 0, None):
                    return
                cursor = skipped_to = row.id
                attempts = 0
            if skipped_to != cursor:
                if not self._advance(job, cursor, skipped_to, 0, None):
                    return
                cursor, attempts = skipped_to, 0

    def _wanted(self, job: _Job, row: LogRow) -> bool:
        if not set(job.target.fields) & kinds_for(row.body, job.phone_number_id):
            return False
        return signature_matches(job.app_secret, row.body, row.signature)

    def _advance(self, job: _Job, expected: int, cursor: int, attempts: int, next_at: datetime | None) -> bool:
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            return store.advance(
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
            store.record_attempt(
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
            metrics.set_relay_lag(store.lag(conn))

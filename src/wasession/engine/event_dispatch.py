"""Outbound event delivery (R16): every event of a workspace goes to each of its enabled webhooks.

The delivery rows are the transactional outbox: store/events.py writes one per enabled webhook in the
transaction that adds the event, so the log shows exactly what each URL was given and no event is skipped
whatever order transactions commit in. Each step POSTs what is due: different webhooks at once on a small
pool, one call at a time per webhook (its events stay in order), each call with a total deadline and a
capped answer (outbound/http.py), so one slow receiver cannot hold the others. Bodies are signed with
HMAC-SHA256 of the exact bytes sent, keyed with the webhook's secret. A failed attempt is retried with
exponential backoff up to MAX_ATTEMPTS; like the engine, everything is driven by due times, so it runs
the same on the system clock and on the Simulator's manual clock.

Fair sharing (issue 25): webhooks run on a FairPool, so one workspace's slow receivers hold at most its
share of the threads, and a webhook's step ends after STEP_SECONDS (the rest of its claim is handed back
due at once), so a thread comes back after at most that plus one call's deadline. A delivery that cannot
even be built is recorded as failed with why, and the next one goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx

from wasession.domain.durations import doubling
from wasession.engine.fair_pool import STEP_SECONDS, round_robin
from wasession.engine.outbound_pool import OutboundPool, Post, StepReport
from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy, Resolver, system_resolver
from wasession.outbound.http import DEADLINE_SECONDS, MAX_ANSWER_BYTES, TIMEOUT, OutboundResult, guarded_post
from wasession.store import event_webhooks as hook_store
from wasession.store.db import Connection
from wasession.store.event_webhooks import Delivery, event_payload

__all__ = ["EventDispatcher", "encode", "event_payload", "retry_delay", "sign"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Wasession-Signature"
EVENT_ID_HEADER = "X-Wasession-Event-Id"
DELIVERY_ID_HEADER = "X-Wasession-Delivery-Id"
EVENT_TYPE_HEADER = "X-Wasession-Event-Type"
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# How long a claimed delivery is left alone; a process that died mid-request gives it up after this.
LEASE = timedelta(minutes=5)
# Webhooks served at once per process; each has at most one call in flight.
POOL_SIZE = 8
PER_WORKSPACE = POOL_SIZE // 2  # of them, one workspace's at most (a setting in serve)
DUE_LIMIT = 1000  # due webhooks looked at per step, so every workspace's are among them
# Deliveries one webhook is given per step, sent one after another (a step's share of a busy receiver).
PER_WEBHOOK = 20
WEBHOOK_DISABLED = "webhook_disabled"

# POST(url, body, headers) -> result; the default is the guarded network call, tests may pass another.


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Any) -> bytes:
    """The exact bytes sent, the same on every attempt, so a receiver can dedupe on the body too."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min … at most an hour."""
    return doubling(attempts, FIRST_RETRY, MAX_RETRY)


@dataclass(frozen=True)
class _Attempt:
    delivery: Delivery
    url: str | None  # None: the webhook was disabled or deleted since the delivery was queued
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"_Attempt(delivery={self.delivery.id}, url={self.url!r})"


class EventDispatcher(OutboundPool):
    def __init__(
        self,
        ctx: ServiceContext,
        http: httpx.Client | None = None,
        *,
        policy: AddressPolicy | None = None,
        resolver: Resolver = system_resolver,
        post: Post | None = None,
        deadline: float = DEADLINE_SECONDS,
        max_answer: int = MAX_ANSWER_BYTES,
        max_attempts: int = MAX_ATTEMPTS,
        pool_size: int = POOL_SIZE,
        per_workspace: int = PER_WORKSPACE,
        wait: bool = True,
    ) -> None:
        super().__init__(
            ctx,
            thread_name="event-delivery",
            policy=policy,
            resolver=resolver,
            post=post,
            deadline=deadline,
            pool_size=pool_size,
            per_workspace=per_workspace,
            wait=wait,
            on_done=ctx.wake,
        )
        # An in-process receiver for the Simulator and tests (nothing leaves the process); when None,
        # deliveries go through the guarded network call, the only path to a real address.
        self.http = http
        self.max_answer = max_answer
        self.max_attempts = max_attempts

    def close(self) -> None:
        super().close()
        if self.http is not None:
            self.http.close()

    def next_attempt_at(self) -> datetime | None:
        if self._waiting_for_room and not self.wait:  # a finished webhook wakes the loop (on_done): no spin
            return None
        return self._next_due()

    def _next_due(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return hook_store.next_attempt_at(conn, self.ctx.clock.now())

    def run_pending(self) -> StepReport:
        report = StepReport()
        futures: list[Future[None]] = []
        for webhook_id, workspace_id, attempts in self._claim_due():
            step = partial(self._deliver_in_order, webhook_id, attempts, report)
            futures.append(self._pool.submit(workspace_id, step, self._then))
        if self.wait:
            for future in futures:
                future.result()
        else:
            report.queued = sum(1 for f in futures if not f.done())
        return report

    def deliver_now(self, delivery_id: int, *, final: bool = False) -> Delivery:
        """Attempt one delivery at once (the test-send endpoint); `final` means no retries afterwards."""
        report = StepReport()
        with self.ctx.db.write() as conn:
            delivery = hook_store.claim_one(conn, delivery_id)
            attempt = self._lease(conn, delivery, self.ctx.clock.now()) if delivery else None
        if attempt is not None:
            self._attempt(attempt, report, final=final)
        with self.ctx.db.read() as conn:
            done = hook_store.get_delivery(conn, delivery_id)
        assert done is not None
        return done

    # -- internals ---------------------------------------------------------------------------------------

    def _claim_due(self) -> list[tuple[int, int, list[_Attempt]]]:
        now = self.ctx.clock.now()
        self._waiting_for_room = False
        due = self._next_due()
        if due is None or due > now:  # a read first, so an idle loop never takes SQLite's write lock
            return []
        claimed: list[tuple[int, int, list[_Attempt]]] = []
        with self.ctx.db.read() as conn:
            webhooks = hook_store.webhooks_due(conn, now, DUE_LIMIT)
        for webhook_id, workspace_id in round_robin(webhooks, lambda w: w[1]):
            if not self._take(webhook_id):
                continue
            if not self._pool.take(workspace_id):  # counted from the claim, before the step is submitted
                self._release(webhook_id)
                self._waiting_for_room = True
                continue
            try:
                with self.ctx.db.write() as conn:
                    deliveries = hook_store.claim_for_webhook(conn, webhook_id, now, PER_WEBHOOK)
                    attempts = [self._lease(conn, d, now) for d in deliveries]
            except BaseException:
                self._release(webhook_id)
                self._pool.give_back(workspace_id)
                raise
            if attempts:
                claimed.append((webhook_id, workspace_id, attempts))
            else:
                self._release(webhook_id)
                self._pool.give_back(workspace_id)
        return claimed

    def _deliver_in_order(self, webhook_id: int, attempts: list[_Attempt], report: StepReport) -> None:
        """One webhook's claimed deliveries, one after another; after a failure the rest are handed back
        untouched, so a receiver that is down costs one deadline per step, not one per event. After
        STEP_SECONDS the rest are handed back due now: the thread goes to whoever is next."""
        began = time.monotonic()
        try:
            for i, attempt in enumerate(attempts):
                if not self._attempt(attempt, report):
                    self._hand_back(attempts[i + 1 :], later=True)
                    break
                if time.monotonic() - began >= STEP_SECONDS:
                    self._hand_back(attempts[i + 1 :], later=False)
                    break
        except Exception:  # a database error: the leases run out and the rows are tried again
            log.exception("event delivery for webhook %s stopped", webhook_id)
        finally:
            self._release(webhook_id)

    def _hand_back(self, attempts: list[_Attempt], *, later: bool) -> None:
        """Claimed deliveries not attempted, pending again as they were: after the first retry delay
        (`later`, the receiver just failed) or at once (the step's time ran out)."""
        if not attempts:
            return
        now = self.ctx.clock.now()
        when = now + retry_delay(1) if later else now
        with self.ctx.db.write() as conn:
            for attempt in attempts:
                d = attempt.delivery
                hook_store.update_delivery(conn, d.id, status="pending", attempts=d.attempts, next_attempt_at=when)

    def _lease(self, conn: Connection, delivery: Delivery, now: datetime) -> _Attempt:
        webhook = hook_store.get_webhook(conn, delivery.webhook_id)
        hook_store.update_delivery(
            conn, delivery.id, status="delivering", attempts=delivery.attempts + 1, next_attempt_at=now + LEASE
        )
        if webhook is None or not webhook.enabled:
            return _Attempt(delivery, None, "")
        return _Attempt(delivery, webhook.url, hook_store.secret_of(conn, self.ctx.box, webhook.id))

    def _send(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResult:
        if self._post is not None:
            return self._post(url, body, headers)
        if self.http is not None:
            return _in_process(self.http, url, body, headers)
        return guarded_post(
            url,
            body,
            headers,
            policy=self.policy,
            resolver=self.resolver,
            deadline=self.deadline,
            max_answer=self.max_answer,
        )

    def _attempt(self, attempt: _Attempt, report: StepReport, *, final: bool = False) -> bool:
        """Send one delivery and record the outcome; True when it was delivered."""
        delivery = attempt.delivery
        if attempt.url is None:
            result = OutboundResult(None, WEBHOOK_DISABLED)
            final = True
        else:
            payload: Mapping[str, Any] = delivery.payload or {}
            try:
                body = encode(payload)
            except (ValueError, TypeError, RecursionError) as exc:  # what one event holds must not stop the next
                log.warning("event delivery %s: its payload cannot be encoded (%s)", delivery.id, exc)
                self._record(delivery, OutboundResult(None, "payload_not_encodable"), True, report)
                return True  # recorded as failed; the webhook's next delivery goes on
            event_id = str(delivery.event_id) if delivery.event_id is not None else f"test-{delivery.id}"
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "wasession-events",
                SIGNATURE_HEADER: sign(attempt.secret, body),
                EVENT_ID_HEADER: event_id,
                DELIVERY_ID_HEADER: str(delivery.id),
                EVENT_TYPE_HEADER: str(payload.get("type", "")),
            }
            result = self._send(attempt.url, body, headers)
        self._record(delivery, result, final, report)
        return result.ok

    def _record(self, delivery: Delivery, result: OutboundResult, final: bool, report: StepReport) -> None:
        now = self.ctx.clock.now()
        attempts = delivery.attempts + 1
        if result.ok:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
        elif final or attempts >= self.max_attempts:
            values = {"status": "failed", "next_attempt_at": None}
        else:
            values = {"status": "pending", "next_attempt_at": now + retry_delay(attempts)}
        report.count({"delivered": "delivered", "failed": "failed", "pending": "retrying"}[values["status"]])
        with self.ctx.db.write() as conn:
            hook_store.update_delivery(
                conn, delivery.id, last_status_code=result.status, last_error=result.error, **values
            )
        log.info(
            "event delivery %s (webhook %s, attempt %s): %s",
            delivery.id,
            delivery.webhook_id,
            attempts,
            values["status"] if result.ok else f"{values['status']} after {result.error}",
        )


def _in_process(http: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResult:
    """A call to an injected in-process client, reported in the same categories as a network call."""
    try:
        response = http.post(url, content=body, headers=dict(headers))
    except httpx.TimeoutException:
        return OutboundResult(None, TIMEOUT)
    except httpx.HTTPError:
        return OutboundResult(None, "connect_failed")
    ok = 200 <= response.status_code < 300
    return OutboundResult(response.status_code, None if ok else f"http_{response.status_code}")

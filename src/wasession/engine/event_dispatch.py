"""Outbound event delivery (R16): every event of a workspace goes to each of its enabled webhooks.

Each step first fans new events out into `event_deliveries` (one row per webhook and event, so the log
shows exactly what each URL was given), then POSTs the deliveries that are due. Bodies are signed with
HMAC-SHA256 of the exact bytes sent, keyed with the webhook's secret. A failed attempt is retried with
exponential backoff up to MAX_ATTEMPTS; like the engine, everything is driven by due times, so it runs
the same on the system clock and on the Simulator's manual clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection

from wasession.lifecycle.context import ServiceContext
from wasession.store import event_webhooks as hook_store
from wasession.store.event_webhooks import Delivery
from wasession.store.events import Event

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
TIMEOUT_SECONDS = 10.0
MAX_ERROR_TEXT = 500


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Any) -> bytes:
    """The exact bytes sent, the same on every attempt, so a receiver can dedupe on the body too."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min … at most an hour."""
    doublings = min(max(0, attempts - 1), 16)  # bounded so the multiplication never overflows
    return min(FIRST_RETRY * (1 << doublings), MAX_RETRY)


def event_payload(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "type": event.type,
        "at": event.at.isoformat(),
        "workspace_id": event.workspace_id,
        "channel_id": event.channel_id,
        "session_id": event.session_id,
        "data": dict(event.data),
    }


@dataclass
class DispatchReport:
    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.delivered + self.retrying + self.failed


@dataclass(frozen=True)
class _Attempt:
    delivery: Delivery
    url: str | None  # None: the webhook was disabled or deleted since the delivery was queued
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"_Attempt(delivery={self.delivery.id}, url={self.url!r})"


class EventDispatcher:
    def __init__(
        self,
        ctx: ServiceContext,
        http: httpx.Client | None = None,
        *,
        batch_size: int = 100,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.ctx = ctx
        # Public so the Simulator and tests can point deliveries at an in-process receiver.
        self.http = http or httpx.Client(timeout=httpx.Timeout(TIMEOUT_SECONDS), follow_redirects=False)
        self.batch_size = batch_size
        self.max_attempts = max_attempts

    def close(self) -> None:
        self.http.close()

    def next_attempt_at(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return hook_store.next_attempt_at(conn)

    def run_pending(self) -> DispatchReport:
        report = DispatchReport()
        report.queued = self.fan_out()
        for attempt in self._claim_due():
            self._attempt(attempt, report)
        return report

    def fan_out(self) -> int:
        now = self.ctx.clock.now()
        queued = 0
        with self.ctx.db.read() as conn:
            webhooks = hook_store.enabled_webhooks(conn)
        for webhook in webhooks:
            with self.ctx.db.write() as conn:
                # The row lock makes concurrent workers take turns, so no event is queued twice.
                locked = hook_store.get_webhook(conn, webhook.id, for_update=True)
                if locked is None or not locked.enabled:
                    continue
                after = hook_store.last_event_id(conn, locked.id)
                for event in hook_store.events_for(conn, locked, after_id=after, limit=self.batch_size):
                    hook_store.insert_delivery(
                        conn, webhook_id=locked.id, event_id=event.id, payload=event_payload(event), now=now
                    )
                    queued += 1
        return queued

    def deliver_now(self, delivery_id: int, *, final: bool = False) -> Delivery:
        """Attempt one delivery at once (the test-send endpoint); `final` means no retries afterwards."""
        report = DispatchReport()
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

    def _claim_due(self) -> list[_Attempt]:
        now = self.ctx.clock.now()
        due = self.next_attempt_at()
        if due is None or due > now:  # a read first, so an idle loop never takes SQLite's write lock
            return []
        with self.ctx.db.write() as conn:
            return [self._lease(conn, d, now) for d in hook_store.claim_due(conn, now, self.batch_size)]

    def _lease(self, conn: Connection, delivery: Delivery, now: datetime) -> _Attempt:
        webhook = hook_store.get_webhook(conn, delivery.webhook_id)
        hook_store.update_delivery(
            conn, delivery.id, status="delivering", attempts=delivery.attempts + 1, next_attempt_at=now + LEASE
        )
        if webhook is None or not webhook.enabled:
            return _Attempt(delivery, None, "")
        return _Attempt(delivery, webhook.url, hook_store.secret_of(conn, self.ctx.box, webhook.id))

    def _attempt(self, attempt: _Attempt, report: DispatchReport, *, final: bool = False) -> None:
        delivery = attempt.delivery
        status_code: int | None = None
        error: str | None = None
        if attempt.url is None:
            error = "the webhook was disabled before this delivery was sent"
            final = True
        else:
            body = encode(delivery.payload)
            event_id = str(delivery.event_id) if delivery.event_id is not None else f"test-{delivery.id}"
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "wasession-events",
                SIGNATURE_HEADER: sign(attempt.secret, body),
                EVENT_ID_HEADER: event_id,
                DELIVERY_ID_HEADER: str(delivery.id),
                EVENT_TYPE_HEADER: str(delivery.payload.get("type", "")),
            }
            try:
                response = self.http.post(attempt.url, content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
        self._record(delivery, status_code, error, final, report)

    def _record(
        self, delivery: Delivery, status_code: int | None, error: str | None, final: bool, report: DispatchReport
    ) -> None:
        now = self.ctx.clock.now()
        attempts = delivery.attempts + 1
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
            report.delivered += 1
        elif final or attempts >= self.max_attempts:
            values = {"status": "failed", "next_attempt_at": None}
            report.failed += 1
        else:
            values = {"status": "pending", "next_attempt_at": now + retry_delay(attempts)}
            report.retrying += 1
        with self.ctx.db.write() as conn:
            hook_store.update_delivery(conn, delivery.id, last_status_code=status_code, last_error=error, **values)
        log.info(
            "event delivery %s (webhook %s, attempt %s): %s",
            delivery.id,
            delivery.webhook_id,
            attempts,
            values["status"] if error is None else f"{values['status']} after {error}",
        )

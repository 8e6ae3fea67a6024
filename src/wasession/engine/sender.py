"""The outbox sender: delivers pending outbound messages, at most once each.

A message goes pending -> sending (committed before the request leaves) -> accepted/failed. A row
found in `sending` after a crash may or may not have reached Meta, so it becomes `unknown` and is
never sent again. Reminders are re-checked against R6 at the moment of sending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, update

from wasession.domain.schedule import REMINDER_MIN_SPARE
from wasession.engine.ratelimit import SlidingWindowLimiter
from wasession.services import sessions as session_ops
from wasession.services.context import ServiceContext
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel, ChannelSecrets
from wasession.store.messages import MessageRow
from wasession.store.schema import messages as messages_table
from wasession.whatsapp.client import CloudClient, SendResult
from wasession.whatsapp.errors import (
    CloudApiError,
    OutcomeUnknownError,
    RetryAdvice,
    backoff_delay,
    pair_backoff_delay,
)

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 8

ClientFactory = Callable[[Channel], CloudClient]


@dataclass(frozen=True)
class _Job:
    message: MessageRow
    channel: Channel
    secrets: ChannelSecrets
    to: str | None
    recipient: str | None


@dataclass
class SendReport:
    accepted: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.failed + self.retried + self.unknown + self.skipped


class Sender:
    def __init__(
        self,
        ctx: ServiceContext,
        client_for: ClientFactory,
        *,
        batch_size: int = 200,
        concurrency: int = 16,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        self.ctx = ctx
        self.client_for = client_for
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.limiter = limiter or SlidingWindowLimiter()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wasession-send")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def next_attempt_at(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return message_store.next_attempt_at(conn)

    def recover_stuck(self) -> int:
        """Rows left in `sending` by a dead process: their outcome is unknown (at-most-once)."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            rows = conn.execute(
                update(messages_table)
                .where(
                    and_(messages_table.c.status == "sending", messages_table.c.status_at < now - STUCK_AFTER)
                )
                .values(status="unknown", status_at=now, error_detail="process stopped while sending")
                .returning(
                    messages_table.c.id,
                    messages_table.c.session_id,
                    messages_table.c.kind,
                    messages_table.c.channel_id,
                    messages_table.c.silence_t,
                )
            ).all()
            for row in rows:
                channel = channel_store.get(conn, row.channel_id)
                assert channel is not None
                self._unknown_event(conn, channel, row.session_id, row.id, row.kind, row.silence_t, now)
        return len(rows)

    def run_pending(self) -> SendReport:
        report = SendReport()
        while True:
            jobs = self._claim(report)
            if not jobs:
                break
            outcomes = list(self._pool.map(self._send, jobs))
            self._record(jobs, outcomes, report)
            if len(jobs) < self.batch_size:
                break
        return report

    # -- claim: re-check and mark `sending` in one transaction -----------------------------------

    def _claim(self, report: SendReport) -> list[_Job]:
        now = self.ctx.clock.now()
        jobs: list[_Job] = []
        with self.ctx.db.write() as conn:
            channels: dict[int, tuple[Channel, ChannelSecrets]] = {}
            for message in message_store.claim_pending(conn, now, self.batch_size):
                if message.channel_id not in channels:
                    channel = channel_store.get(conn, message.channel_id)
                    assert channel is not None
                    channels[channel.id] = (channel, channel_store.secrets_of(conn, self.ctx.box, channel.id))
                channel, secrets = channels[message.channel_id]
                if channel.sending_paused_reason:
                    message_store.update_message(conn, message.id, next_attempt_at=now + timedelta(minutes=1))
                    report.deferred += 1
                    continue
                session = session_store.get(conn, message.session_id)
                assert session is not None
                reason = self._skip_reason(message, session, now)
                if reason is not None:
                    self._skip(conn, channel, message, session, reason, now)
                    report.skipped += 1
                    continue
                later = self.limiter.take(channel.id, channel.rate_limit_per_second, now)
                if later is not None:
                    message_store.update_message(conn, message.id, next_attempt_at=later)
                    report.deferred += 1
                    continue
                contact = contact_store.get(conn, session.contact_id)
                assert contact is not None
                to, recipient = contact.send_address()
                message_store.update_message(
                    conn, message.id, status="sending", status_at=now, attempts=message.attempts + 1
                )
                jobs.append(_Job(message, channel, secrets, to, recipient))
        return jobs

    @staticmethod
    def _skip_reason(message: MessageRow, session: session_store.SessionRow, now: datetime) -> str | None:
        if message.kind != "reminder":
            if message.kind == "agent" and not session.window_open(now):
                return "window_closed"
            return None
        # R6, checked again at the moment of sending: the claim may have waited on rate limits.
        if not session.active:
            return "not_active"
        if message.silence_t != session.last_customer_at:
            return "customer_replied"
        spare = session.window_closes_at - now
        if spare <= timedelta(0):
            return "window_closed"
        if spare < REMINDER_MIN_SPARE:
            return "window_closing"
        return None

    def _skip(
        self,
        conn: Connection,
        channel: Channel,
        message: MessageRow,
        session: session_store.SessionRow,
        reason: str,
        now: datetime,
    ) -> None:
        message_store.update_message(conn, message.id, status="skipped", status_at=now, error_detail=reason)
        kind = "reminder" if message.kind == "reminder" else "message"
        session_ops.record(
            conn, channel, session.id, f"{kind}_skipped", now, reason=reason, message_id=message.id
        )
        if message.kind == "reminder" and message.silence_t == session.last_customer_at and session.active:
            session_store.update_session(conn, session.id, reminder_state="skipped", reminder_reason=reason)

    # -- the request itself, outside any transaction ---------------------------------------------

    def _send(self, job: _Job) -> SendResult | Exception:
        message = job.message
        client = self.client_for(job.channel)
        try:
            if message.type == "template":
                tpl: dict[str, Any] = message.payload or {}
                return client.send_template(
                    phone_number_id=job.channel.phone_number_id,
                    access_token=job.secrets.access_token,
                    to=job.to,
                    recipient=job.recipient,
                    name=str(tpl.get("name", "")),
                    language=str(tpl.get("language", "")),
                    body_parameters=tpl.get("parameters") or (),
                    callback_data=message.callback_data,
                )
            return client.send_text(
                phone_number_id=job.channel.phone_number_id,
                access_token=job.secrets.access_token,
                to=job.to,
                recipient=job.recipient,
                body=message.body or "",
                callback_data=message.callback_data,
            )
        except Exception as exc:  # every outcome is recorded; nothing escapes the pool
            return exc

    # -- record outcomes ---------------------------------------------------------------------------

    def _record(self, jobs: list[_Job], outcomes: list[SendResult | Exception], report: SendReport) -> None:
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            for job, outcome in zip(jobs, outcomes, strict=True):
                self._record_one(conn, job, outcome, now, report)

    def _record_one(
        self, conn: Connection, job: _Job, outcome: SendResult | Exception, now: datetime, report: SendReport
    ) -> None:
        message, channel = job.message, job.channel
        is_reminder = message.kind == "reminder"
        prefix = "reminder" if is_reminder else "message"
        session = session_store.get(conn, message.session_id)
        assert session is not None
        current_silence = is_reminder and message.silence_t == session.last_customer_at

        if isinstance(outcome, SendResult):
            message_store.update_message(
                conn, message.id, status="accepted", status_at=now, wamid=outcome.wamid
            )
            session_ops.record(
                conn,
                channel,
                session.id,
                f"{prefix}_accepted",
                now,
                message_id=message.id,
                wamid=outcome.wamid,
            )
            if current_silence:
                session_store.update_session(conn, session.id, reminder_state="sent")
            report.accepted += 1
            return
        if isinstance(outcome, OutcomeUnknownError):
            message_store.update_message(
                conn, message.id, status="unknown", status_at=now, error_detail=str(outcome)
            )
            self._unknown_event(conn, channel, session.id, message.id, message.kind, message.silence_t, now)
            report.unknown += 1
            return
        error = outcome.error if isinstance(outcome, CloudApiError) else None
        advice = outcome.retry if isinstance(outcome, CloudApiError) else RetryAdvice.NEVER
        code = error.code if error else None
        attempts = message.attempts + 1
        if advice is RetryAdvice.PAUSE_CHANNEL:
            # An expired token would fail every send: pause the channel, keep the message pending.
            channel_store.set_paused(conn, channel.id, f"error {code}: {error.message if error else outcome}")
            message_store.update_message(
                conn,
                message.id,
                status="pending",
                status_at=now,
                next_attempt_at=now + timedelta(minutes=1),
                error_code=code,
            )
            session_ops.record(conn, channel, None, "channel_paused", now, error_code=code)
            report.retried += 1
            return
        if advice in (RetryAdvice.BACKOFF, RetryAdvice.PAIR_BACKOFF) and attempts < MAX_ATTEMPTS:
            delay = (
                pair_backoff_delay(attempts)
                if advice is RetryAdvice.PAIR_BACKOFF
                else backoff_delay(attempts)
            )
            message_store.update_message(
                conn,
                message.id,
                status="pending",
                status_at=now,
                error_code=code,
                next_attempt_at=now + timedelta(seconds=delay),
            )
            session_ops.record(
                conn,
                channel,
                session.id,
                f"{prefix}_retry",
                now,
                message_id=message.id,
                error_code=code,
                delay_seconds=round(delay, 3),
            )
            report.retried += 1
            return
        message_store.update_message(
            conn,
            message.id,
            status="failed",
            status_at=now,
            error_code=code,
            error_title=error.title if error else type(outcome).__name__,
            error_detail=(error.details or error.message) if error else str(outcome),
        )
        session_ops.record(
            conn, channel, session.id, f"{prefix}_failed", now, message_id=message.id, error_code=code
        )
        if is_reminder:
            session_ops.reminder_failed(conn, channel, session, message.silence_t, code, now, now)
        report.failed += 1

    def _unknown_event(
        self,
        conn: Connection,
        channel: Channel,
        session_id: int,
        message_id: int,
        kind: str,
        silence_t: datetime | None,
        now: datetime,
    ) -> None:
        prefix = "reminder" if kind == "reminder" else "message"
        session_ops.record(conn, channel, session_id, f"{prefix}_unknown", now, message_id=message_id)
        if kind == "reminder":
            session = session_store.get(conn, session_id)
            if session is not None and silence_t == session.last_customer_at:
                session_store.update_session(conn, session_id, reminder_state="unknown")

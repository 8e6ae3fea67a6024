"""The outbox sender: delivers pending outbound messages, at most once each.

A message goes pending -> sending (committed before the request leaves) -> accepted/failed. A row
found in `sending` after a crash may or may not have reached Meta, so it becomes `unknown` and is
never sent again. Reminders are re-checked against R6 at the moment of sending.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Exists,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)

from wasession.domain.lifecycle import reminder_skip_reason
from wasession.domain.policy import Policy
from wasession.lifecycle import writes as session_ops
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbox.ratelimit import SharedRateLimiter
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel, ChannelSecrets
from wasession.store.messages import MessageRow
from wasession.store.schema import channels as channels_table
from wasession.store.schema import contacts as contacts_table
from wasession.store.schema import messages as messages_table
from wasession.store.schema import sessions as sessions_table
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
# Claim rounds per run_pending call, so a steady stream still returns control to the loop (stop, wake).
MAX_ROUNDS = 200
# Per-recipient pacing (ADR 0005): on average one message per PAIR_SPACING to the same user, with a
# burst of PAIR_BURST, well inside Meta's pair rate limit (131056) so agents' quick follow-ups pass.
PAIR_SPACING = timedelta(seconds=6)
PAIR_BURST = 5
# Share of the channel's limit left unused when several processes share it: requests reach Meta a
# few milliseconds after their slot is taken, and that jitter must not push any second over it.
RATE_HEADROOM = 0.03
# With a real clock a worker waits for a rate-limit slot at most this long; longer waits go back
# to the outbox so one saturated channel cannot hold every worker thread.
MAX_SLOT_WAIT = timedelta(seconds=1)
WINDOW = timedelta(seconds=1)
IN_FLIGHT_RETRY = timedelta(milliseconds=10)

ClientFactory = Callable[[Channel], CloudClient]


def _has_pending(*when: ColumnElement[bool]) -> Exists:
    return exists().where(
        messages_table.c.channel_id == channels_table.c.id, messages_table.c.status == "pending", *when
    )


_READY_CHANNELS = (
    select(channels_table.c.id)
    .where(
        channels_table.c.sending_paused_reason.is_(None),
        or_(
            _has_pending(messages_table.c.next_attempt_at.is_(None)),
            _has_pending(messages_table.c.next_attempt_at <= bindparam("now")),
        ),
    )
    .order_by(channels_table.c.id)
)
# A status webhook naming the message by its callback data may have got here first: then the
# status it set stays, and only the wamid is added.
_ACCEPTED = (
    update(messages_table)
    .where(messages_table.c.id == bindparam("mid"))
    .values(
        wamid=bindparam("w"),
        status=case((messages_table.c.status == "sending", "accepted"), else_=messages_table.c.status),
        status_at=case((messages_table.c.status == "sending", bindparam("now")), else_=messages_table.c.status_at),
    )
)
# Only while the session is still in the silence the reminder was for (R6).
_REMINDER_SENT = (
    update(sessions_table)
    .where(sessions_table.c.id == bindparam("sid"), sessions_table.c.last_customer_at == bindparam("t"))
    .values(reminder_state="sent")
)
_OUTBOX_HEADS = select(
    _has_pending(messages_table.c.next_attempt_at.is_(None)).label("ready"),
    select(func.min(messages_table.c.next_attempt_at))
    .where(messages_table.c.channel_id == channels_table.c.id, messages_table.c.status == "pending")
    .scalar_subquery()
    .label("earliest"),
).where(channels_table.c.sending_paused_reason.is_(None))


@dataclass(frozen=True)
class _Job:
    message: MessageRow
    channel: Channel
    secrets: ChannelSecrets
    to: str | None
    recipient: str | None
    paced_at: datetime


@dataclass(frozen=True)
class _Deferred:
    """No request was made (the rate limit had no slot): back to the outbox, no attempt counted."""

    until: datetime


def effective_rate(limit: int) -> int:
    return max(1, limit - math.ceil(limit * RATE_HEADROOM))


class RecipientPacer:
    """A sliding log per (channel, recipient): at most PAIR_BURST sends in PAIR_BURST × PAIR_SPACING."""

    def __init__(self, spacing: timedelta = PAIR_SPACING, burst: int = PAIR_BURST) -> None:
        self.window = spacing * burst
        self.burst = burst
        self._sent: dict[tuple[int, str], deque[datetime]] = {}
        self._next_prune: datetime | None = None
        self._lock = threading.Lock()

    def take(self, key: tuple[int, str], now: datetime) -> datetime | None:
        with self._lock:
            log = self._sent.setdefault(key, deque())
            while log and log[0] + self.window <= now:
                log.popleft()
            if len(log) < self.burst:
                log.append(now)
                return None
            return log[0] + self.window

    def release(self, key: tuple[int, str], at: datetime) -> None:
        """Give back a slot whose send never happened."""
        with self._lock:
            log = self._sent.get(key)
            if log is not None and at in log:
                log.remove(at)

    def prune(self, now: datetime) -> None:
        """Forget recipients with no send in the window; at most once a window, since it walks
        every recipient seen (20,000 a second at full speed)."""
        with self._lock:
            if self._next_prune is not None and now < self._next_prune:
                return
            self._next_prune = now + self.window
            for key in [k for k, log in self._sent.items() if not log or log[-1] + self.window <= now]:
                del self._sent[key]


@dataclass
class SendReport:
    accepted: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0
    paused: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.failed + self.retried + self.unknown + self.skipped


class HeldSlots:
    """In this process, a send holds one of the channel's slots from the moment it is taken until
    one second after its answer came back. Whenever a request reaches Meta, every request that
    reached Meta in the second before it still holds its slot, so however late a request arrives
    after its slot was taken, no one-second window at Meta holds more than the limit (ADR 0005)."""

    def __init__(self) -> None:
        self._in_flight: dict[int, int] = {}
        self._done: dict[int, deque[datetime]] = {}
        self._lock = threading.Lock()

    def take(self, key: int, limit: int, now: datetime) -> datetime | None:
        with self._lock:
            done = self._done.setdefault(key, deque())
            while done and done[0] + WINDOW <= now:
                done.popleft()
            if self._in_flight.get(key, 0) + len(done) < limit:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                return None
            return done[0] + WINDOW if done else now + IN_FLIGHT_RETRY

    def release(self, key: int, answered_at: datetime | None) -> None:
        """`answered_at` None: the request never left, the slot is simply free again."""
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            if answered_at is not None:
                self._done.setdefault(key, deque()).append(answered_at)


class Sender:
    def __init__(
        self,
        ctx: ServiceContext,
        client_for: ClientFactory,
        *,
        batch_size: int = 200,
        concurrency: int = 16,
        limiter: SharedRateLimiter | None = None,
    ) -> None:
        self.ctx = ctx
        self.client_for = client_for
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.limiter = limiter  # shared by the processes on PostgreSQL; None: this process's held slots only
        self.pacer = RecipientPacer()
        self.held = HeldSlots()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wasession-send")
        self._round = 0  # which channel goes first in the next claim, so none is always last
        self.stopping = threading.Event()  # set on shutdown: record the batch in flight, claim no more

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def next_attempt_at(self) -> datetime | None:
        """When the outbox next has work, ignoring paused channels (their messages wait for new
        credentials, not for a time). Per channel, index probes only: the outbox may hold a
        million pending messages."""
        with self.ctx.db.read() as conn:
            heads = conn.execute(_OUTBOX_HEADS).all()
        if any(head.ready for head in heads):
            return self.ctx.clock.now()  # messages never deferred are ready as soon as they exist
        return min((head.earliest for head in heads if head.earliest is not None), default=None)

    def recover_stuck(self) -> int:
        """Rows left in `sending` by a dead process: their outcome is unknown (at-most-once)."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            rows = conn.execute(
                update(messages_table)
                .where(and_(messages_table.c.status == "sending", messages_table.c.status_at < now - STUCK_AFTER))
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
        """Claim, send and record until nothing is ready. Two batches are in flight: while one is
        on the wire, the other's outcomes are recorded and the next batch is claimed, in one
        transaction, so the database work overlaps the requests and the sender takes the write
        lock once per batch."""
        report = SendReport()
        in_flight: deque[list[tuple[_Job, Future[SendResult | _Deferred | Exception]]]] = deque()
        for _ in range(MAX_ROUNDS):
            done = in_flight.popleft() if len(in_flight) == 2 else []
            outcomes = [f.result() for _, f in done]
            with self.ctx.db.write() as conn:
                if done:
                    self._record(conn, [j for j, _ in done], outcomes, report)
                jobs, claimed = self._claim(conn, report)
            in_flight.append([(job, self._pool.submit(self._send, job)) for job in jobs])
            # Every claimed row leaves the ready set (sending, skipped or due later), so this
            # ends; a channel below its share does not mean the others are done.
            if not claimed or self.stopping.is_set():
                break
        rest = [pair for batch in in_flight for pair in batch]
        if rest:
            outcomes = [f.result() for _, f in rest]
            with self.ctx.db.write() as conn:
                self._record(conn, [j for j, _ in rest], outcomes, report)
        return report

    # -- claim: re-check and mark `sending` in one transaction -----------------------------------

    def _claim(self, conn: Connection, report: SendReport) -> tuple[list[_Job], int]:
        """Claim up to one batch, shared round-robin between the channels that have work, so a
        channel with a large backlog cannot starve the others."""
        now = self.ctx.clock.now()
        self.pacer.prune(now)
        per_channel: list[list[_Job]] = []
        claimed = 0
        ready = self._ready_channels(conn, now)
        if not ready:
            return [], 0
        self._round = (self._round + 1) % len(ready)
        ready = ready[self._round :] + ready[: self._round]
        # Two batches are in flight at a time (one on the wire, one being recorded), each at most
        # half the pool: a crash leaves at most `concurrency` sends `unknown`, and rows wait in
        # `sending` only for a free worker, never for a rate-limit slot far ahead.
        batch = max(1, min(self.batch_size, self.concurrency // 2))
        share = max(1, batch // len(ready))
        for channel in ready:
            secrets = channel_store.secrets_of(conn, self.ctx.box, channel.id)
            limit = min(share, effective_rate(channel.rate_limit_per_second))
            jobs: list[_Job] = []
            rows = self._claim_channel(conn, channel.id, now, limit)
            claimed += len(rows)
            found_sessions = self._sessions(conn, {m.session_id for m in rows})
            found_contacts = self._contacts(conn, {s.contact_id for s in found_sessions.values()})
            for message in rows:
                session = found_sessions[message.session_id]
                contact = found_contacts[session.contact_id]
                job = self._claim_one(conn, channel, secrets, message, session, contact, now, report)
                if job is not None:
                    jobs.append(job)
            if jobs:  # committed before any request leaves: a crash from here on is `unknown`, not a resend
                conn.execute(
                    update(messages_table)
                    .where(messages_table.c.id == bindparam("mid"))
                    .values(status="sending", status_at=now, attempts=bindparam("n")),
                    [{"mid": j.message.id, "n": j.message.attempts + 1} for j in jobs],
                )
            per_channel.append(jobs)
        # Interleave, so the worker pool takes the channels' messages in turn.
        out: list[_Job] = []
        for i in range(max((len(j) for j in per_channel), default=0)):
            out.extend(jobs[i] for jobs in per_channel if i < len(jobs))
        return out, claimed

    @staticmethod
    def _ready_channels(conn: Connection, now: datetime) -> list[Channel]:
        # Channels are few and pending messages may be a million: ask each unpaused channel whether
        # it has a ready message (two probes on ix_messages_channel_outbox) instead of reading the
        # distinct channels of every pending message.
        ids = conn.execute(_READY_CHANNELS, {"now": now}).scalars()
        found = [channel_store.get(conn, int(i)) for i in ids]
        return [c for c in found if c is not None]

    @staticmethod
    def _claim_channel(conn: Connection, channel_id: int, now: datetime, limit: int) -> list[MessageRow]:
        rows = conn.execute(
            select(messages_table)
            .where(
                messages_table.c.channel_id == channel_id,
                messages_table.c.status == "pending",
                or_(messages_table.c.next_attempt_at.is_(None), messages_table.c.next_attempt_at <= now),
            )
            .order_by(messages_table.c.next_attempt_at, messages_table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).mappings()
        return [MessageRow(**dict(r)) for r in rows]

    @staticmethod
    def _sessions(conn: Connection, ids: set[int]) -> dict[int, session_store.SessionRow]:
        if not ids:
            return {}
        rows = conn.execute(select(sessions_table).where(sessions_table.c.id.in_(ids))).mappings()
        return {int(r["id"]): session_store.SessionRow(**dict(r)) for r in rows}

    @staticmethod
    def _contacts(conn: Connection, ids: set[int]) -> dict[int, contact_store.Contact]:
        if not ids:
            return {}
        rows = conn.execute(select(contacts_table).where(contacts_table.c.id.in_(ids))).mappings()
        return {int(r["id"]): contact_store.Contact(**dict(r)) for r in rows}

    def _claim_one(
        self,
        conn: Connection,
        channel: Channel,
        secrets: ChannelSecrets,
        message: MessageRow,
        session: session_store.SessionRow,
        contact: contact_store.Contact,
        now: datetime,
        report: SendReport,
    ) -> _Job | None:
        reason = self._skip_reason(message, session, channel.policy, now)
        if reason is not None:
            self._skip(conn, channel, message, session, reason, now)
            report.skipped += 1
            metrics.send_outcome(message.kind, "skipped")
            return None
        to, recipient = contact.send_address()
        later = self.pacer.take((channel.id, to or recipient or ""), now)
        if later is not None:
            message_store.update_message(conn, message.id, next_attempt_at=later)
            report.deferred += 1
            return None
        return _Job(message, channel, secrets, to, recipient, now)

    @staticmethod
    def _skip_reason(
        message: MessageRow, session: session_store.SessionRow, policy: Policy, now: datetime
    ) -> str | None:
        if message.kind != "reminder":
            if message.kind == "agent" and not session.window_open(now):
                return "window_closed"
            return None
        # R6, checked again at the moment of sending: the claim may have waited on rate limits.
        assert message.silence_t is not None
        return reminder_skip_reason(
            now=now,
            policy=policy,
            session_active=session.active,
            last_customer_at=session.last_customer_at,
            silence_started_at=message.silence_t,
            window_closes_at=session.window_closes_at,
        )

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
        session_ops.record(conn, channel, session.id, f"{kind}_skipped", now, reason=reason, message_id=message.id)
        if message.kind == "reminder" and message.silence_t == session.last_customer_at and session.active:
            session_store.update_session(conn, session.id, reminder_state="skipped", reminder_reason=reason)

    # -- the request itself, outside any transaction ---------------------------------------------

    def _slot(self, job: _Job) -> _Deferred | None:
        """Take the channel's rate-limit slots right before the request leaves: this process's
        held slot (see HeldSlots) and, with several processes on PostgreSQL, the shared limiter's.

        Held slots bound what reaches Meta exactly, so one process may use the whole limit. The
        shared limiter counts from the moment each slot is taken, so there the sender keeps
        RATE_HEADROOM for requests that arrive a little after their slot (ADR 0003)."""
        limit = job.channel.rate_limit_per_second
        if self.limiter is not None:
            limit = effective_rate(limit)
        real_time = self.ctx.clock.is_real
        key = job.channel.id
        while True:
            now = self.ctx.clock.now()
            later = self.held.take(key, limit, now)
            if later is None:
                later = self.limiter.take(key, limit, now) if self.limiter is not None else None
                if later is None:
                    return None
                self.held.release(key, None)
            if not real_time or later - now > MAX_SLOT_WAIT:
                return _Deferred(later)
            time.sleep(max(0.001, (later - now).total_seconds()))

    def _send(self, job: _Job) -> SendResult | _Deferred | Exception:
        deferred = self._slot(job)
        if deferred is not None:
            return deferred
        try:
            return self._request(job)
        finally:
            self.held.release(job.channel.id, self.ctx.clock.now())

    def _request(self, job: _Job) -> SendResult | Exception:
        message = job.message
        client = self.client_for(job.channel)
        began = time.monotonic()
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
        finally:
            metrics.send_answered(time.monotonic() - began)

    # -- record outcomes ---------------------------------------------------------------------------

    def _record(
        self,
        conn: Connection,
        jobs: list[_Job],
        outcomes: list[SendResult | _Deferred | Exception],
        report: SendReport,
    ) -> None:
        now = self.ctx.clock.now()
        accepted = [(j, o) for j, o in zip(jobs, outcomes, strict=True) if isinstance(o, SendResult)]
        if accepted:
            # The common case, in a few statements for the whole batch rather than several per message.
            conn.execute(
                _ACCEPTED, [{"mid": j.message.id, "w": o.wamid, "now": now} for j, o in accepted]
            )
            event_store.add_many(
                conn,
                [
                    event_store.values(
                        workspace_id=j.channel.workspace_id,
                        channel_id=j.channel.id,
                        session_id=j.message.session_id,
                        type=("reminder" if j.message.kind == "reminder" else "message") + "_accepted",
                        at=now,
                        data={"message_id": j.message.id, "wamid": o.wamid},
                    )
                    for j, o in accepted
                ],
            )
            reminders = [
                {"sid": j.message.session_id, "t": j.message.silence_t}
                for j, _ in accepted
                if j.message.kind == "reminder"
            ]
            if reminders:
                conn.execute(_REMINDER_SENT, reminders)
        for job, outcome in zip(jobs, outcomes, strict=True):
            self._record_one(conn, job, outcome, now, report)

    def _record_one(
        self,
        conn: Connection,
        job: _Job,
        outcome: SendResult | _Deferred | Exception,
        now: datetime,
        report: SendReport,
    ) -> None:
        message, channel = job.message, job.channel
        if isinstance(outcome, _Deferred):
            self.pacer.release((channel.id, job.to or job.recipient or ""), job.paced_at)
            message_store.update_message(
                conn, message.id, status="pending", attempts=message.attempts, next_attempt_at=outcome.until
            )
            report.deferred += 1
            return
        is_reminder = message.kind == "reminder"
        prefix = "reminder" if is_reminder else "message"

        if isinstance(outcome, SendResult):  # rows, events and reminder states were written with the whole batch
            report.accepted += 1
            metrics.send_outcome(message.kind, "sent")
            return
        # Rare outcomes below may change the session (a failed reminder re-plans it): read it fresh.
        session = session_store.get(conn, message.session_id)
        assert session is not None
        if isinstance(outcome, OutcomeUnknownError):
            message_store.update_message(conn, message.id, status="unknown", status_at=now, error_detail=str(outcome))
            self._unknown_event(conn, channel, session.id, message.id, message.kind, message.silence_t, now)
            report.unknown += 1
            metrics.send_outcome(message.kind, "unknown")
            return
        error = outcome.error if isinstance(outcome, CloudApiError) else None
        advice = outcome.retry if isinstance(outcome, CloudApiError) else RetryAdvice.NEVER
        code = error.code if error else None
        attempts = message.attempts + 1
        if advice is RetryAdvice.PAUSE_CHANNEL:
            # An expired token would fail every send: pause the channel and keep the message pending,
            # with this attempt not counted, until an administrator rotates the credentials.
            message_store.update_message(
                conn,
                message.id,
                status="pending",
                status_at=now,
                attempts=message.attempts,
                next_attempt_at=now,
                error_code=code,
                error_title=error.title if error else type(outcome).__name__,
                error_detail=str(outcome),
            )
            current = channel_store.get(conn, channel.id)
            if current is not None and not current.sending_paused_reason:
                reason = f"error {code}: {error.message if error else outcome}"
                channel_store.set_paused(conn, channel.id, reason)
                session_ops.record(conn, channel, None, "channel_paused", now, error_code=code, reason=reason)
            session_ops.record(
                conn,
                channel,
                session.id,
                f"{prefix}_held",
                now,
                message_id=message.id,
                error_code=code,
                reason="channel_paused",
            )
            report.paused += 1
            return
        if advice in (RetryAdvice.BACKOFF, RetryAdvice.PAIR_BACKOFF) and attempts < MAX_ATTEMPTS:
            delay = pair_backoff_delay(attempts) if advice is RetryAdvice.PAIR_BACKOFF else backoff_delay(attempts)
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
        session_ops.record(conn, channel, session.id, f"{prefix}_failed", now, message_id=message.id, error_code=code)
        if is_reminder:
            session_ops.reminder_failed(conn, channel, session, message.silence_t, code, now, now)
        report.failed += 1
        metrics.send_outcome(message.kind, "failed")

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

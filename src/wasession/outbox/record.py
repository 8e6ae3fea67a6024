"""Writing what happened to each send: message rows, timeline events and reminder states.

Accepted sends, the common case, are written for the whole batch in a few statements; the rare outcomes
one by one, reading the session fresh since a failed reminder re-plans it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from wasession.domain.events import EventType
from wasession.domain.states import MessageKind, MessageStatus, ReminderState
from wasession.lifecycle import session_writes
from wasession.lifecycle.send_failures import send_failed
from wasession.observability import activity, metrics
from wasession.outbox.jobs import Attempt, Deferred, Job, SendReport, message_event
from wasession.outbox.limits import RecipientPacer
from wasession.outbox.outcome import Accepted, Failed, Paused, Retry, Unknown, classify
from wasession.store import channels as channel_store
from wasession.store import events as event_store
from wasession.store import messages as message_store
from wasession.store import outbox as outbox_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.messages import MessageRow
from wasession.store.outbox import SessionCheck
from wasession.store.sessions import SessionRow
from wasession.whatsapp.client import SendResult

STUCK_DETAIL = "process stopped while sending"
AUTOMATED = (MessageKind.REMINDER, MessageKind.CLOSING)  # the agent's own sends need no log line
log = logging.getLogger("wasession.send")


def record_attempts(
    conn: Connection,
    jobs: Sequence[Job],
    attempts: Sequence[Attempt],
    now: datetime,
    report: SendReport,
    pacer: RecipientPacer,
) -> None:
    accepted = [(j, a) for j, a in zip(jobs, attempts, strict=True) if isinstance(a, SendResult)]
    if accepted:
        outbox_store.mark_accepted(conn, [(j.message.id, a.wamid) for j, a in accepted], now)
        event_store.add_many(
            conn,
            [
                event_store.values(
                    workspace_id=j.channel.workspace_id,
                    channel_id=j.channel.id,
                    session_id=j.message.session_id,
                    type=message_event(j.message.kind, "accepted"),
                    at=now,
                    data={"message_id": j.message.id, "wamid": a.wamid},
                )
                for j, a in accepted
            ],
        )
        reminders = [j.message for j, _ in accepted if j.message.kind == MessageKind.REMINDER]
        outbox_store.mark_reminders_sent(conn, [(m.session_id, m.silence_t) for m in reminders])
        report.accepted += len(accepted)
        for job, _ in accepted:
            # Meta took it, nothing more: a `failed` status may follow, and is counted as failed then.
            metrics.send_outcome(job.message.kind, "accepted")
        activity.batch(
            [
                f"session {j.message.session_id} on {j.channel.name!r}: "
                f"{j.message.kind} message sent (accepted by WhatsApp)"
                for j, _ in accepted
                if j.message.kind in AUTOMATED
            ],
            "{n} reminders and closing messages sent (accepted by WhatsApp)",
        )
    for job, attempt in zip(jobs, attempts, strict=True):
        if isinstance(attempt, Deferred):
            pacer.release(job.pacer_key, job.paced_at)
            message_store.update_message(
                conn,
                job.message.id,
                status=MessageStatus.PENDING,
                attempts=job.message.attempts,
                next_attempt_at=attempt.until,
            )
            report.deferred += 1
        elif not isinstance(attempt, SendResult):
            _record_problem(conn, job, attempt, now, report)


def _record_problem(conn: Connection, job: Job, error: Exception, now: datetime, report: SendReport) -> None:
    message, channel = job.message, job.channel
    session = session_store.get(conn, message.session_id)
    assert session is not None
    outcome = classify(error, attempt=message.attempts + 1, now=now)
    if isinstance(outcome, Accepted):  # classify gives that for a SendResult only, recorded above
        raise AssertionError("an accepted send among the problems")
    if isinstance(outcome, Unknown):
        message_store.update_message(
            conn, message.id, status=MessageStatus.UNKNOWN, status_at=now, error_detail=outcome.detail
        )
        record_unknown(conn, channel, session.id, message.id, message.kind, message.silence_t, now)
        report.unknown += 1
        metrics.send_outcome(message.kind, "unknown")
    elif isinstance(outcome, Paused):
        message_store.update_message(
            conn,
            message.id,
            status=MessageStatus.PENDING,
            status_at=now,
            attempts=message.attempts,
            next_attempt_at=now,
            error_code=outcome.code,
            error_title=outcome.title,
            error_detail=outcome.detail,
        )
        current = channel_store.get(conn, channel.id)
        if current is not None and not current.sending_paused_reason:
            channel_store.set_paused(conn, channel.id, outcome.reason)
            session_writes.record(
                conn, channel, None, EventType.CHANNEL_PAUSED, now, error_code=outcome.code, reason=outcome.reason
            )
        session_writes.record(
            conn,
            channel,
            session.id,
            message_event(message.kind, "held"),
            now,
            message_id=message.id,
            error_code=outcome.code,
            reason="channel_paused",
        )
        report.paused += 1
    elif isinstance(outcome, Retry):
        message_store.update_message(
            conn,
            message.id,
            status=MessageStatus.PENDING,
            status_at=now,
            error_code=outcome.code,
            error_title=outcome.title or None,
            next_attempt_at=outcome.at,
        )
        session_writes.record(
            conn,
            channel,
            session.id,
            message_event(message.kind, "retry"),
            now,
            message_id=message.id,
            error_code=outcome.code,
            delay_seconds=round(outcome.delay_seconds, 3),
        )
        report.retried += 1
    else:
        _record_failed(conn, channel, message, session, outcome, now)
        report.failed += 1
        metrics.send_outcome(message.kind, "failed")


def _record_failed(
    conn: Connection, channel: Channel, message: MessageRow, session: SessionRow, outcome: Failed, now: datetime
) -> None:
    message_store.update_message(
        conn,
        message.id,
        status=MessageStatus.FAILED,
        status_at=now,
        error_code=outcome.code,
        error_title=outcome.title,
        error_detail=outcome.detail,
    )
    session_writes.record(
        conn,
        channel,
        session.id,
        message_event(message.kind, "failed"),
        now,
        message_id=message.id,
        error_code=outcome.code,
    )
    send_failed(conn, channel, message, outcome.code, outcome.title, outcome.detail, now)
    if message.kind == MessageKind.REMINDER:
        session_writes.reminder_failed(conn, channel, session, message.silence_t, outcome.code, now, now)


def record_skip(
    conn: Connection, channel: Channel, message: MessageRow, session: SessionCheck, reason: str, now: datetime
) -> None:
    message_store.update_message(conn, message.id, status=MessageStatus.SKIPPED, status_at=now, error_detail=reason)
    activity.log.info("session %s on %r: %s message not sent (%s)", session.id, channel.name, message.kind, reason)
    session_writes.record(
        conn, channel, session.id, message_event(message.kind, "skipped"), now, reason=reason, message_id=message.id
    )
    if (
        message.kind == MessageKind.REMINDER
        and message.silence_t == session.last_customer_at
        and session.active
        and session.reminder_state != ReminderState.PENDING  # the ladder's next step is not this one
    ):
        session_store.update_session(conn, session.id, reminder_state=ReminderState.SKIPPED, reminder_reason=reason)


def record_unknown(
    conn: Connection,
    channel: Channel,
    session_id: int,
    message_id: int,
    kind: str,
    silence_t: datetime | None,
    now: datetime,
) -> None:
    session_writes.record(conn, channel, session_id, message_event(kind, "unknown"), now, message_id=message_id)
    log.warning("send outcome unknown (never retried): channel=%s message=%s kind=%s", channel.name, message_id, kind)
    if kind == MessageKind.REMINDER:
        session = session_store.get(conn, session_id)
        pending_next = session is not None and session.reminder_state == ReminderState.PENDING
        if session is not None and silence_t == session.last_customer_at and not pending_next:
            session_store.update_session(conn, session_id, reminder_state=ReminderState.UNKNOWN)


def recover_stuck(conn: Connection, older_than: datetime, now: datetime) -> int:
    """Rows left in `sending` by a dead process: their outcome is unknown (at-most-once)."""
    stuck = outbox_store.mark_stuck_unknown(conn, older_than, now, STUCK_DETAIL)
    for row in stuck:
        channel = channel_store.get(conn, row.channel_id)
        assert channel is not None
        record_unknown(conn, channel, row.session_id, row.id, row.kind, row.silence_t, now)
    return len(stuck)

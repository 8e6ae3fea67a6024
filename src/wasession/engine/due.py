"""The due-work loop: claim sessions whose next action is due, re-check, act, re-plan.

Cost follows the number of due sessions, never the number of active ones: the claim is a range
read on the due_at index. Acting re-checks the locked row, so a repeated or late claim is harmless.
A claimed batch is written set-based (`SessionWrites`): its session updates and events go to the
database in a few statements at the end of the batch, inside the claim's transaction.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from wasession.domain.lifecycle import reminder_skip_reason, render_reminder
from wasession.lifecycle import writes as session_ops
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.sessions import SessionRow

log = logging.getLogger(__name__)


@dataclass
class DueResult:
    closed: int = 0
    reminders_queued: int = 0
    reminders_skipped: int = 0
    replanned: int = 0

    @property
    def total(self) -> int:
        return self.closed + self.reminders_queued + self.reminders_skipped + self.replanned


def reminder_callback_data(session_id: int) -> str:
    return f"wasession:reminder:{session_id}"


class DueWorker:
    def __init__(self, ctx: ServiceContext, *, batch_size: int = 500) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self.stopping = threading.Event()  # set on shutdown: finish the batch in hand, claim no more

    def next_due_at(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return session_store.next_due_at(conn)

    def run_due(self) -> DueResult:
        """Act on everything due now, batch after batch, until nothing is due."""
        result = DueResult()
        while True:
            now = self.ctx.clock.now()
            with self.ctx.db.write() as conn:
                batch = session_store.claim_due(conn, now, self.batch_size)
                channels: dict[int, Channel] = {}
                writes = session_ops.SessionWrites()
                for session in batch:
                    channel = channels.get(session.channel_id)
                    if channel is None:
                        channel = channel_store.get(conn, session.channel_id)
                        assert channel is not None
                        channels[channel.id] = channel
                    self._act(conn, writes, channel, session, now, result)
                writes.flush(conn)
            if len(batch) < self.batch_size or self.stopping.is_set():
                break
        return result

    def _act(
        self,
        conn: Connection,
        writes: session_ops.SessionWrites,
        channel: Channel,
        session: SessionRow,
        now: datetime,
        result: DueResult,
    ) -> None:
        if now >= session.closes_at:
            writes.close(channel, session, now, "timeout")
            metrics.session_closed("timeout", session.eligible_at, session.closes_at, now)
            result.closed += 1
            return
        if (
            session.due_kind == "remind"
            and session.reminder_state == "pending"
            and session.reminder_due_at is not None
            and session.reminder_due_at <= now
        ):
            self._remind(conn, writes, channel, session, now, result)
            return
        # The stored due time was stale (policy or clock moved): just re-plan.
        writes.replan(session, channel.policy, now)
        result.replanned += 1

    def _remind(
        self,
        conn: Connection,
        writes: session_ops.SessionWrites,
        channel: Channel,
        session: SessionRow,
        now: datetime,
        result: DueResult,
    ) -> None:
        reason = reminder_skip_reason(
            now=now,
            policy=channel.policy,
            session_active=session.active,
            last_customer_at=session.last_customer_at,
            silence_started_at=session.last_customer_at,
            window_closes_at=session.window_closes_at,
        )
        text = ""
        if reason is None:
            contact = contact_store.get(conn, session.contact_id)
            assert contact is not None
            text, reason = render_reminder(channel.policy, contact.merge_values())
        if reason is not None:
            writes.replan(session, channel.policy, now, reminder_state="skipped", reminder_reason=reason)
            writes.record(
                channel,
                session.id,
                "reminder_skipped",
                now,
                reason=reason,
                due_at=session.reminder_due_at,
            )
            result.reminders_skipped += 1
            metrics.reminder("skipped")
            return
        message_id = message_store.insert_message(
            conn,
            session_id=session.id,
            channel_id=channel.id,
            direction="out",
            kind="reminder",
            type="text",
            body=text,
            sent_at=now,
            created_at=now,
            status="pending",
            silence_t=session.last_customer_at,
            callback_data=reminder_callback_data(session.id),
        )
        writes.replan(session, channel.policy, now, reminder_state="queued", reminder_reason=None)
        writes.record(
            channel,
            session.id,
            "reminder_queued",
            now,
            message_id=message_id,
            due_at=session.reminder_due_at,
        )
        result.reminders_queued += 1
        metrics.reminder("queued")

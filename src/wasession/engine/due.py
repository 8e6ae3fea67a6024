"""The due-work loop: claim sessions whose next action is due, re-check, act, re-plan.

Cost follows the number of due sessions, never the number of active ones: the claim is a range
read on the due_at index. Acting re-checks the locked row, so a repeated or late claim is harmless.
A claimed batch is written set-based (`SessionWrites`): its session updates and events go to the
database in a few statements at the end of the batch, inside the claim's transaction.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from wasession.domain import transitions
from wasession.domain.plan import is_held, is_snoozed
from wasession.domain.pricing import MONTHLY_CAP
from wasession.domain.states import CloseReason, DueKind, ReminderState
from wasession.engine.monthly_cap import AutomatedCounts, closing_template_blocked
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.observability import activity, metrics, usage_metrics
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.contacts import Contact
from wasession.store.db import Connection
from wasession.store.sessions import SessionRow

log = logging.getLogger(__name__)


@dataclass
class DueResult:
    closed: int = 0
    reminders_queued: int = 0
    reminders_skipped: int = 0
    replanned: int = 0
    # A human line per closure and reminder of the batch in hand (observability/activity.py).
    lines: list[str] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.closed + self.reminders_queued + self.reminders_skipped + self.replanned


class _BatchContacts:
    """The contacts of a claimed batch, read in one query the first time a reminder or closing message
    needs its merge fields (not one query a session; not at all for a batch of plain closures)."""

    def __init__(self, conn: Connection, contact_ids: list[int]) -> None:
        self._conn = conn
        self._ids = contact_ids
        self._found: dict[int, Contact] | None = None

    def get(self, contact_id: int) -> Contact:
        if self._found is None:
            self._found = contact_store.get_many(self._conn, self._ids)
        return self._found[contact_id]


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
            # A read first: the loop is woken after many writes that made nothing due, and a write
            # transaction on SQLite takes the one write lock from the sender and the apply for nothing.
            first = self.next_due_at()
            if first is None or first > now:
                break
            with self.ctx.db.write() as conn:
                batch = session_store.claim_due(conn, now, self.batch_size)
                contacts = _BatchContacts(conn, [s.contact_id for s in batch])
                channels: dict[int, Channel] = {}
                writes = session_writes.SessionWrites()
                automated = AutomatedCounts()
                for session in batch:
                    channel = channels.get(session.channel_id)
                    if channel is None:
                        channel = channel_store.get(conn, session.channel_id)
                        assert channel is not None
                        channels[channel.id] = channel
                    self._act(conn, writes, channel, session, contacts, now, result, automated)
                writes.flush(conn)
            activity.batch(result.lines, "the due loop acted on {n} sessions (closures and reminders)")
            result.lines.clear()
            if len(batch) < self.batch_size or self.stopping.is_set():
                break
        return result

    def _act(
        self,
        conn: Connection,
        writes: session_writes.SessionWrites,
        channel: Channel,
        session: SessionRow,
        contacts: _BatchContacts,
        now: datetime,
        result: DueResult,
        automated: AutomatedCounts,
    ) -> None:
        state = session_writes.state_of(session)
        if session.due_kind == DueKind.WAKE and session.snoozed_until is not None and session.snoozed_until <= now:
            writes.apply(
                conn, channel, session.id, transitions.woke(state, policy=channel.policy, now=now, early=False)
            )
            result.replanned += 1
            return
        closable = not is_held(channel.policy, session.awaiting) and not is_snoozed(session.snoozed_until, now)

        def merge_values() -> dict[str, str]:
            return contacts.get(session.contact_id).merge_values()

        def recipient() -> str | None:
            return contacts.get(session.contact_id).wa_id or None

        if closable and now >= session.closes_at:
            change = transitions.closed(
                state,
                now=now,
                reason=CloseReason.TIMEOUT,
                policy=channel.policy,
                merge_values=merge_values,
                automated_this_month=automated.for_channel(conn, channel, now),
                over_budget=automated.over_budget(conn, channel, recipient, now),
                template_blocked=closing_template_blocked(conn, channel, session.contact_id, now),
            )
            writes.apply(conn, channel, session.id, change)
            if change.closing is not None:
                automated.queued(channel.id)
            elif any(n.data.get("reason") == MONTHLY_CAP for n in change.events):
                usage_metrics.capped("closing")
            metrics.session_closed(CloseReason.TIMEOUT, session.eligible_at, session.closes_at, now)
            closing = ", closing message queued" if change.closing is not None else ""
            result.lines.append(
                f"session {session.id} on {channel.name!r}: closed (timeout; the customer last wrote "
                f"{session.last_customer_at:%Y-%m-%d %H:%M:%S} UTC){closing}"
            )
            result.closed += 1
            return
        if (
            session.due_kind == DueKind.REMIND
            and session.reminder_state == ReminderState.PENDING
            and session.reminder_due_at is not None
            and session.reminder_due_at <= now
        ):
            change = transitions.reminder_due(
                state,
                policy=channel.policy,
                now=now,
                merge_values=merge_values,
                automated_this_month=automated.for_channel(conn, channel, now),
                over_budget=automated.over_budget(conn, channel, recipient, now),
            )
            writes.apply(conn, channel, session.id, change)
            if change.reminder is None:
                result.reminders_skipped += 1
                metrics.reminder("skipped")
                if change.fields.get("reminder_reason") == MONTHLY_CAP:
                    usage_metrics.capped("reminder")
                reason = change.fields.get("reminder_reason") or "not due"
                result.lines.append(f"session {session.id} on {channel.name!r}: reminder skipped ({reason})")
            else:
                result.reminders_queued += 1
                metrics.reminder("queued")
                automated.queued(channel.id)
                result.lines.append(
                    f"session {session.id} on {channel.name!r}: "
                    f"reminder step {session.reminder_step} queued for sending"
                )
            return
        # The stored due time was stale (policy or clock moved): just re-plan.
        _, values = transitions.replanned(state, channel.policy, now)
        writes.apply(conn, channel, session.id, transitions.Change(values))
        result.replanned += 1

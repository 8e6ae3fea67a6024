"""Applying a verified body: customer messages (R1–R5), statuses (R12, R15) and other updates.

Every step is idempotent — a known wamid changes nothing (R4) and statuses only move forward
(R15) — so a body, or a slice of one, may be applied again safely.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from wasession.domain import transitions
from wasession.domain.events import EventType, other_webhook_event
from wasession.domain.lifecycle import Awaiting, Direction, MessageKind, MessageStatus, ReminderState, SessionStatus
from wasession.domain.plan import NEW_SILENCE, Plan, plan
from wasession.domain.schedule import effective_timestamp
from wasession.ingest import pricing as pricing_facts
from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult
from wasession.lifecycle import marketing
from wasession.lifecycle import writes as session_ops
from wasession.lifecycle.send_failures import send_failed
from wasession.observability import metrics
from wasession.store import contacts as contact_store
from wasession.store import inbound as inbound_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel, ChannelCache
from wasession.store.db import Connection
from wasession.store.messages import FINAL_STATUSES, STATUS_RANK, MessageRow, MessageState
from wasession.store.sessions import SessionRow
from wasession.whatsapp.payload import InboundMessage, OtherUpdate, StatusUpdate, WebhookBatch, marketing_preferences

if TYPE_CHECKING:
    from wasession.ingest.batch import BodyToApply

Update = InboundMessage | StatusUpdate | OtherUpdate

# A reminder's progress follows its message's statuses, forward only (R15); `unknown` is a send
# whose answer was lost, resolved by a status that names it through its callback data.
REMINDER_DELIVERY_RANK: dict[str, int] = {
    ReminderState.UNKNOWN: 0,
    ReminderState.SENT: 1,
    ReminderState.DELIVERED: 2,
    ReminderState.READ: 3,
}


# Composed event types, each built in one place (they become `EventType` members later).
def customer_event(message_type: str) -> EventType:
    return EventType.for_customer_non_counting(message_type)


def status_event(kind: str, status: str) -> EventType:
    return EventType.for_status(kind, status)


def signed_for(verdict: Verdict, update: Update, result: IngestResult) -> bool:
    """Whether the body's signature vouches for the number `update` addresses; if not, it is
    counted as unroutable (no channel has the number) or refused (its channel's secret did not sign)."""
    pnid = update.phone_number_id
    if not pnid or verdict.allows(pnid):
        return True
    if pnid in verdict.unroutable:
        result.unroutable.append(pnid)
        result.others += isinstance(update, OtherUpdate)
    else:
        result.refused.append(pnid)  # nothing of it is kept
    return False


def status_change(current: str, status: StatusUpdate) -> message_store.MessageUpdate | None:
    """What a status does to the row of the message it names (R15): the values to write, or None
    when it changes nothing. Failed keeps Meta's error; statuses only move forward."""
    if current in (MessageStatus.UNKNOWN, MessageStatus.SENDING):
        current = MessageStatus.ACCEPTED  # the status proves Meta took it
    elif current in FINAL_STATUSES or current == MessageStatus.READ:
        return None  # failed is final and read is the last step
    new = status.status
    if new == MessageStatus.FAILED:
        error = status.errors[0] if status.errors else None
        return {
            "status": MessageStatus.FAILED,
            "status_at": status.timestamp,
            "error_code": error.code if error else None,
            "error_title": error.title if error else None,
            "error_detail": (error.details or error.message) if error else None,
        }
    if STATUS_RANK.get(new, -1) <= STATUS_RANK.get(current, -1):
        return None  # duplicates and regressions (a late `sent` after `read`) change nothing
    return {"status": new, "status_at": status.timestamp}


def failed_status(
    conn: Connection, channel: Channel, message: MessageRow | MessageState, values: message_store.MessageUpdate
) -> None:
    """What a `failed` status changes beyond the message's row, on either apply path: the operator's
    log line, the agent awaited again, the send counted as failed (it was counted accepted before)."""
    send_failed(
        conn,
        channel,
        message,
        values.get("error_code"),
        values.get("error_title"),
        values.get("error_detail"),
        values.get("status_at"),
    )
    metrics.send_outcome(message.kind, "failed")


def customer_reopen(
    channel: Channel, latest: SessionRow, msg: InboundMessage, ts: datetime, now: datetime
) -> transitions.Change | None:
    """`reopen_within` (issue 13), on either apply path: the change that reopens the session a timeout
    closed moments ago with this customer message, or None when it does not reopen."""
    state = session_ops.state_of(latest)
    if latest.closed_at is None or not transitions.reopens(
        state, close_reason=latest.close_reason, closed_at=latest.closed_at, at=ts, policy=channel.policy
    ):
        return None
    return transitions.reopened_by_customer(
        state,
        at=ts,
        closed_at=latest.closed_at,
        policy=channel.policy,
        now=now,
        wamid=msg.wamid,
        message_type=msg.type,
    )


def updates_in_order(batch: WebhookBatch) -> list[Update]:
    """Messages oldest first (so T only moves forward within a body), then statuses, then others:
    the order a body is applied in, and the order its slices follow."""
    return [*sorted(batch.messages, key=lambda m: m.timestamp), *batch.statuses, *batch.others]


class Applier:
    def __init__(self, channels: ChannelCache) -> None:
        self.channels = channels

    def apply(
        self,
        conn: Connection,
        updates: Sequence[Update],
        verdict: Verdict,
        now: datetime,
        result: IngestResult,
        channels: dict[str, Channel | None],
    ) -> None:
        def channel_for(phone_number_id: str) -> Channel | None:
            # Read once per transaction: no other writer can change the row while it is open on
            # SQLite, and on PostgreSQL the whole group sees the channel as of its first body.
            if phone_number_id not in channels:
                channels[phone_number_id] = self.channels.by_phone_number_id(conn, phone_number_id)
            found = channels[phone_number_id]
            if found is None:
                result.unroutable.append(phone_number_id)
            return found

        for update in updates:
            pnid = update.phone_number_id
            if not signed_for(verdict, update, result):
                continue
            if isinstance(update, InboundMessage):
                channel = channel_for(update.phone_number_id)
                if channel is not None:
                    self._apply_message(conn, channel, update, now, result)
            elif isinstance(update, StatusUpdate):
                channel = channel_for(update.phone_number_id)
                if channel is not None:
                    self._apply_status(conn, channel, update, now, result)
            else:
                result.others += 1
                channel = channel_for(pnid) if pnid else None
                if channel is not None:
                    self._record_other(conn, channel, update, now)

    def apply_many(self, conn: Connection, bodies: Sequence[BodyToApply], channels: dict[str, Channel | None]) -> None:
        """Apply a batch of logged bodies inside the caller's transaction, set-based, filling each
        body's `result` as `apply` would: the same state and events as applying them one by one in
        the order given, each with its own `received_at` as now (R3's clamp uses the logged arrival).

        An `IntegrityError` (another process created the same contact or session meanwhile, on
        PostgreSQL) leaves the transaction to be rolled back and the batch to be applied again, as
        with `apply`."""
        # Imported here: the batch path builds on this module's helpers.
        from wasession.ingest.batch_apply import BatchApply

        BatchApply(self, conn, channels).run(bodies)

    def _apply_message(
        self, conn: Connection, channel: Channel, msg: InboundMessage, now: datetime, result: IngestResult
    ) -> None:
        if msg.group_id is not None:
            # A group chat is not a 1:1 customer service window: no contact, session or T (ADR 0005).
            # The body stays in the webhook log and its outcome counts it.
            result.groups += 1
            return
        if message_store.wamid_exists(conn, channel.id, msg.wamid):
            result.duplicates += 1  # R4: Meta retries for up to 7 days
            return
        info = msg.contact
        contact = contact_store.upsert_seen(
            conn,
            channel.workspace_id,
            wa_id=msg.wa_id,
            user_id=msg.user_id,
            parent_user_id=info.parent_user_id if info else None,
            profile_name=info.profile_name if info else None,
            username=info.username if info else None,
            now=now,
        )
        if msg.type == "system":  # a changed number or user id
            self.rekey(conn, channel, contact, msg, now)
        result.messages += 1
        ts = effective_timestamp(msg.timestamp, now)
        active = session_store.active_for(conn, channel.id, contact.id)
        if msg.opens_window:
            result.customers.append((channel.phone_number_id, msg.wa_id or msg.user_id or "", ts))

        if not msg.opens_window:
            target = active or session_store.latest_for(conn, channel.id, contact.id)
            if target is None:
                session_ops.record(
                    conn, channel, None, EventType.MESSAGE_WITHOUT_SESSION, now, wamid=msg.wamid, type=msg.type
                )
                return
            self._store_inbound(conn, channel, target.id, msg, ts, now)
            session_ops.record(conn, channel, target.id, customer_event(msg.type), ts, wamid=msg.wamid, counts=False)
            return

        if active is None:
            latest = session_store.latest_for(conn, channel.id, contact.id)
            if latest is not None and latest.closed_at is not None and ts < latest.closed_at:
                # Written before that session closed, delivered late: it belongs to that transcript (R5).
                self._store_inbound(conn, channel, latest.id, msg, ts, now)
                session_ops.record(conn, channel, latest.id, EventType.CUSTOMER_MESSAGE, ts, wamid=msg.wamid, late=True)
                return
            if latest is not None and self._reopen(conn, channel, latest, msg, ts, now, result):
                return
            result.scheduled(self._open(conn, channel, contact.id, msg, ts, now))
            result.opened += 1
            return

        self._store_inbound(conn, channel, active.id, msg, ts, now)
        if ts > active.last_customer_at:
            p = session_ops.replan(
                conn,
                active,
                channel.policy,
                now,
                reminder_state=NEW_SILENCE,
                last_customer_at=ts,
                last_message_at=max(ts, active.last_message_at),
                window_closed_early_at=None,
                awaiting=Awaiting.AGENT,
                reminder_reason=None,
            )
            result.scheduled(p.due_at)
            _record_new_silence(conn, channel, active.id, msg, ts, p)
        else:
            # R5: older than T, kept in its place in the transcript; T does not move back.
            session_ops.record(conn, channel, active.id, EventType.CUSTOMER_MESSAGE, ts, wamid=msg.wamid, late=True)

    def _reopen(
        self,
        conn: Connection,
        channel: Channel,
        latest: SessionRow,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
        result: IngestResult,
    ) -> bool:
        change = customer_reopen(channel, latest, msg, ts, now)
        if change is None:
            return False
        self._store_inbound(conn, channel, latest.id, msg, ts, now)
        session_ops.apply(conn, channel, latest.id, change)
        result.scheduled(change.plan.due_at if change.plan else None)
        return True

    def _open(
        self,
        conn: Connection,
        channel: Channel,
        contact_id: int,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
    ) -> datetime | None:
        p = plan(last_customer_at=ts, policy=channel.policy, reminder_state=NEW_SILENCE, now=now)
        session_id = session_store.insert_session(
            conn,
            channel_id=channel.id,
            contact_id=contact_id,
            status=SessionStatus.ACTIVE,
            opened_at=ts,
            last_customer_at=ts,
            last_message_at=ts,
            awaiting=Awaiting.AGENT,
            **session_ops.plan_values(p),
        )
        self._store_inbound(conn, channel, session_id, msg, ts, now)
        session_ops.record(conn, channel, session_id, EventType.SESSION_OPENED, ts, wamid=msg.wamid)
        _record_new_silence(conn, channel, session_id, msg, ts, p)
        return p.due_at

    def _store_inbound(
        self,
        conn: Connection,
        channel: Channel,
        session_id: int,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
    ) -> None:
        message_store.insert_message(conn, **self.inbound_row(channel, session_id, msg, ts, now))
        pricing_facts.record_referral(conn, session_id, msg, now)

    @staticmethod
    def inbound_row(
        channel: Channel, session_id: int, msg: InboundMessage, ts: datetime, now: datetime
    ) -> dict[str, Any]:
        """The transcript row of a customer's message."""
        return {
            "session_id": session_id,
            "channel_id": channel.id,
            "direction": Direction.IN,
            "kind": MessageKind.CUSTOMER,
            "wamid": msg.wamid,
            "type": msg.type,
            "body": msg.text,
            "payload": dict(msg.raw),
            "sent_at": ts,
            "created_at": now,
            "status": MessageStatus.RECEIVED,
        }

    def rekey(
        self,
        conn: Connection,
        channel: Channel,
        contact: contact_store.Contact,
        msg: InboundMessage,
        now: datetime,
    ) -> None:
        """A user who changed number or user id keeps their contact and session."""
        changes: dict[str, Any] = {}
        for column, new in (("wa_id", msg.system_new_wa_id), ("user_id", msg.system_new_user_id)):
            if new and getattr(contact, column) != new:
                taken = contact_store.find(
                    conn,
                    channel.workspace_id,
                    wa_id=new if column == "wa_id" else None,
                    user_id=new if column == "user_id" else None,
                )
                if taken is None:
                    changes[column] = new
        if changes:
            contact_store.update_fields(conn, contact.id, now, **changes)
            session_ops.record(conn, channel, None, EventType.CONTACT_REKEYED, now, contact_id=contact.id, **changes)

    def _apply_status(
        self, conn: Connection, channel: Channel, status: StatusUpdate, now: datetime, result: IngestResult
    ) -> None:
        result.statuses += 1
        message = message_store.by_wamid(conn, channel.id, status.wamid)
        if message is None:
            message = inbound_store.by_callback(conn, channel.id, status.biz_opaque_callback_data)
            if message is None:
                return
            # The send's answer was lost (outcome unknown) or is not recorded yet: learn its wamid here.
            message_store.update_message(conn, message.id, wamid=status.wamid)
        if message.direction != Direction.OUT:
            return  # statuses describe what we sent (R15); one naming a customer's message changes nothing
        pricing_facts.record_status(conn, channel, message, status, now)  # before R15's early returns (R23)
        values = status_change(message.status, status)
        if values is None:
            return
        message_store.update_message(conn, message.id, **values)
        new = values["status"]
        self._status_event(conn, channel, message, new, status.timestamp, values.get("error_code"))
        if new == MessageStatus.FAILED:
            failed_status(conn, channel, message, values)
        if message.kind != MessageKind.REMINDER:
            return
        session = session_store.get(conn, message.session_id)
        if session is None:
            return
        if new == MessageStatus.FAILED:
            result.scheduled(now)
            code = values.get("error_code")
            session_ops.reminder_failed(conn, channel, session, message.silence_t, code, status.timestamp, now)
            return
        rank = REMINDER_DELIVERY_RANK
        if (
            message.silence_t == session.last_customer_at
            and session.reminder_state in rank
            and rank.get(new, -1) > rank[session.reminder_state]
        ):
            session_store.update_session(conn, session.id, reminder_state=ReminderState(new))
            result.scheduled(now)

    def _status_event(
        self,
        conn: Connection,
        channel: Channel,
        message: message_store.MessageRow,
        status: str,
        at: datetime,
        code: int | None,
    ) -> None:
        data: dict[str, Any] = {"wamid": message.wamid, "message_id": message.id}
        if code is not None:
            data["error_code"] = code
        session_ops.record(conn, channel, message.session_id, status_event(message.kind, status), at, **data)

    def _record_other(self, conn: Connection, channel: Channel, other: OtherUpdate, now: datetime) -> None:
        marketing.apply_preferences(conn, channel, marketing_preferences(other), partial(session_ops.record, conn))
        event_type, extra = other_webhook_event(other.kind)
        session_ops.record(conn, channel, None, event_type, now, field=other.field, **extra)


def _record_new_silence(
    conn: Connection, channel: Channel, session_id: int, msg: InboundMessage, ts: datetime, p: Plan
) -> None:
    """The customer_message event of a message that starts a silence, with the times it set (R3, R6, R9)."""
    session_ops.record(
        conn,
        channel,
        session_id,
        EventType.CUSTOMER_MESSAGE,
        ts,
        wamid=msg.wamid,
        type=msg.type,
        window_closes_at=p.window_closes_at,
        closes_at=p.closes_at,
        reminder_due_at=p.reminder_due_at,
    )

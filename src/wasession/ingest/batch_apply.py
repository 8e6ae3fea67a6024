"""Applying a batch of logged bodies set-based, with the same outcome as applying them one by one.

`Applier.apply` runs about ten statements per customer message. Here a batch reads what it needs
in one query each (channels, contacts, active sessions, known wamids), decides every update in
memory with the same rules (R1–R5, R12, R15) and the same `domain.transitions`, in log-id order,
and writes messages, statuses, session updates and events in a few executemany statements.

Rare updates (a changed number, `system`) flush what is gathered and go through the one-by-one path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from wasession.domain.events import EventType, other_webhook_event
from wasession.domain.lifecycle import Direction, MessageKind, MessageStatus
from wasession.domain.schedule import effective_timestamp
from wasession.domain.transitions import (
    SendOutcome,
    customer_wrote,
    opened,
    reminder_send_outcome,
    reminder_status,
)
from wasession.ingest import pricing as pricing_facts
from wasession.ingest.apply import (
    Applier,
    customer_event,
    customer_reopen,
    failed_status,
    signed_for,
    status_change,
    status_event,
)
from wasession.ingest.batch import BodyToApply
from wasession.ingest.result import IngestResult
from wasession.lifecycle import marketing
from wasession.lifecycle.batch_sessions import BatchSessions
from wasession.lifecycle.writes import SessionWrites, state_of
from wasession.store import contacts as contact_store
from wasession.store import inbound as inbound_store
from wasession.store import messages as message_store
from wasession.store import pricing as pricing_store
from wasession.store.channels import Channel
from wasession.store.contacts import Contact, Seen
from wasession.store.db import Connection
from wasession.store.messages import MessageState, MessageUpdate
from wasession.store.pricing import StoredPricing
from wasession.store.sessions import SessionRow
from wasession.whatsapp.payload import InboundMessage, OtherUpdate, StatusUpdate, marketing_preferences


@dataclass(slots=True)
class _Routed:
    """An update of a body that its verdict allows and whose channel exists."""

    body: BodyToApply
    update: InboundMessage | StatusUpdate | OtherUpdate
    channel: Channel | None  # None: an other update without a phone number


class _Contacts:
    """A workspace's contacts named by the batch, found as `contact_store.find` finds them."""

    def __init__(self, rows: Sequence[Contact]) -> None:
        self._by_wa: dict[str, Contact] = {}
        self._by_user: dict[str, Contact] = {}
        for c in rows:
            self.keep(c)

    def find(self, wa_id: str | None, user_id: str | None) -> Contact | None:
        # wa_id is the primary key of a person (R1); a user_id match is the fallback.
        return (self._by_wa.get(wa_id) if wa_id else None) or (self._by_user.get(user_id) if user_id else None)

    def ids(self) -> set[int]:
        return {c.id for c in self._by_wa.values()} | {c.id for c in self._by_user.values()}

    def keep(self, contact: Contact, old: Contact | None = None) -> None:
        if old is not None:
            if old.wa_id and self._by_wa.get(old.wa_id) is old:
                del self._by_wa[old.wa_id]
            if old.user_id and self._by_user.get(old.user_id) is old:
                del self._by_user[old.user_id]
        if contact.wa_id:
            self._by_wa[contact.wa_id] = contact
        if contact.user_id:
            self._by_user[contact.user_id] = contact


class BatchApply:
    """One batch, applied inside the caller's transaction: `run` reads, decides and writes it."""

    def __init__(self, applier: Applier, conn: Connection, channels: dict[str, Channel | None]) -> None:
        self.applier = applier
        self.conn = conn
        self.channels = channels
        self.sessions = BatchSessions(SessionWrites())
        self.contacts: dict[int, _Contacts] = {}
        self.known: dict[tuple[int, str], MessageState] = {}
        self.pricing: dict[int, StoredPricing | None] = {}
        self.new_messages: list[dict[str, Any]] = []
        self.contact_updates: dict[int, dict[str, Any]] = {}
        self.message_updates: dict[int, MessageUpdate] = {}
        # Every status that named one of our messages, in order: the place for per-status facts
        # (pricing, conversation) to be stored set-based with the batch.
        self.statuses: list[tuple[int, StatusUpdate]] = []

    def run(self, bodies: Sequence[BodyToApply]) -> None:
        routed = [r for body in bodies for r in self._route(body)]
        self._read(routed)
        for r in routed:
            now = r.body.received_at
            if isinstance(r.update, InboundMessage):
                assert r.channel is not None
                self._message(r.channel, r.update, now, r.body.result)
            elif isinstance(r.update, StatusUpdate):
                assert r.channel is not None
                self._status(r.channel, r.update, now, r.body.result)
            elif r.channel is not None:
                # R24: the one hook for a marketing stop/resume (lifecycle/marketing.py does the rest).
                marketing.apply_preferences(self.conn, r.channel, marketing_preferences(r.update), self._record)
                event_type, extra = other_webhook_event(r.update.kind)
                self._record(r.channel, None, event_type, now, field=r.update.field, **extra)
        self.flush()

    # -- reading ---------------------------------------------------------------------------------------

    def _route(self, body: BodyToApply) -> list[_Routed]:
        """The body's updates its verdict allows and that reach a channel, counting the rest as `apply` does."""
        result, verdict = body.result, body.verdict
        routed: list[_Routed] = []
        for update in body.updates:
            if not signed_for(verdict, update, result):
                continue
            pnid = update.phone_number_id
            if isinstance(update, OtherUpdate):
                result.others += 1
            channel = self._channel(pnid, result) if pnid else None
            if channel is not None or isinstance(update, OtherUpdate):
                routed.append(_Routed(body, update, channel))
        return routed

    def _channel(self, phone_number_id: str, result: IngestResult) -> Channel | None:
        if phone_number_id not in self.channels:
            self.channels[phone_number_id] = self.applier.channels.by_phone_number_id(self.conn, phone_number_id)
        found = self.channels[phone_number_id]
        if found is None:
            result.unroutable.append(phone_number_id)
        return found

    def _read(self, routed: Sequence[_Routed]) -> None:
        """One query each for the batch's known wamids, contacts and their active sessions, and
        the sessions its statuses may change."""
        wamids: set[tuple[int, str]] = set()
        names: dict[int, tuple[set[str], set[str]]] = {}
        for r in routed:
            if r.channel is None or isinstance(r.update, OtherUpdate):
                continue
            wamids.add((r.channel.id, r.update.wamid))
            if isinstance(r.update, InboundMessage) and r.update.group_id is None:
                wa, users = names.setdefault(r.channel.workspace_id, (set(), set()))
                if r.update.wa_id:
                    wa.add(r.update.wa_id)
                if r.update.user_id:
                    users.add(r.update.user_id)
        self.known = message_store.states_by_wamid(self.conn, wamids)
        # What Meta priced so far for the sends the batch's statuses name (R23): one query, not one a status.
        sends = [m.id for m in self.known.values() if m.direction == Direction.OUT]
        self.pricing = pricing_store.get_many(self.conn, sends)
        for workspace_id, (wa, users) in names.items():
            self.contacts[workspace_id] = _Contacts(
                contact_store.find_many(self.conn, workspace_id, wa_ids=wa, user_ids=users)
            )
        self.sessions.load_active(self.conn, [i for index in self.contacts.values() for i in index.ids()])
        reminders = [m for m in self.known.values() if m.direction == Direction.OUT and m.kind == MessageKind.REMINDER]
        self.sessions.load(self.conn, [m.session_id for m in reminders])

    # -- customer messages (R1–R5) ---------------------------------------------------------------------

    def _message(self, channel: Channel, msg: InboundMessage, now: datetime, result: IngestResult) -> None:
        if msg.group_id is not None:
            result.groups += 1  # not a 1:1 service window (ADR 0005)
            return
        if (channel.id, msg.wamid) in self.known:
            result.duplicates += 1  # R4
            return
        contact = self._contact_seen(channel, msg, now)
        if msg.type == "system":
            contact = self._rekey(channel, contact, msg, now)
        result.messages += 1
        ts = effective_timestamp(msg.timestamp, now)
        active = self.sessions.active(self.conn, channel.id, contact.id)
        if msg.opens_window:
            result.customers.append((channel.phone_number_id, msg.wa_id or msg.user_id or "", ts))

        if not msg.opens_window:
            target = active or self.sessions.latest(self.conn, channel.id, contact.id)
            if target is None:
                self._record(channel, None, EventType.MESSAGE_WITHOUT_SESSION, now, wamid=msg.wamid, type=msg.type)
                return
            self._store_inbound(channel, target.id, msg, ts, now)
            self._record(channel, target.id, customer_event(msg.type), ts, wamid=msg.wamid, counts=False)
            return

        if active is None:
            latest = self.sessions.latest(self.conn, channel.id, contact.id)
            if latest is not None and latest.closed_at is not None and ts < latest.closed_at:
                self._store_inbound(channel, latest.id, msg, ts, now)  # late, for that transcript (R5)
                self._record(channel, latest.id, EventType.CUSTOMER_MESSAGE, ts, wamid=msg.wamid, late=True)
                return
            if latest is not None and self._reopen(channel, latest, msg, ts, now, result):
                return
            change = opened(at=ts, policy=channel.policy, now=now, wamid=msg.wamid, message_type=msg.type)
            session = self.sessions.open(self.conn, channel, contact.id, change)
            self._store_inbound(channel, session.id, msg, ts, now)
            assert change.plan is not None
            result.scheduled(change.plan.due_at)
            result.opened += 1
            return

        self._store_inbound(channel, active.id, msg, ts, now)
        change = customer_wrote(
            state_of(active), at=ts, policy=channel.policy, now=now, wamid=msg.wamid, message_type=msg.type
        )
        if change.plan is not None:
            result.scheduled(change.plan.due_at)
        self.sessions.change(self.conn, channel, active, change)

    def _reopen(
        self,
        channel: Channel,
        latest: SessionRow,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
        result: IngestResult,
    ) -> bool:
        """`reopen_within`: the session a timeout closed moments ago takes the message, as one by one."""
        change = customer_reopen(channel, latest, msg, ts, now)
        if change is None:
            return False
        self._store_inbound(channel, latest.id, msg, ts, now)
        self.sessions.change(self.conn, channel, latest, change)
        result.scheduled(change.plan.due_at if change.plan else None)
        return True

    def _contact_seen(self, channel: Channel, msg: InboundMessage, now: datetime) -> Contact:
        info = msg.contact
        seen = Seen(
            msg.wa_id,
            msg.user_id,
            info.parent_user_id if info else None,
            info.profile_name if info else None,
            info.username if info else None,
        )
        index = self.contacts.setdefault(channel.workspace_id, _Contacts(()))
        existing = index.find(msg.wa_id, msg.user_id)
        if existing is None:
            contact = contact_store.insert_seen(self.conn, channel.workspace_id, seen, now)
            index.keep(contact)
            self.sessions.new_contact(contact.id)
            return contact
        changes = contact_store.seen_changes(existing, seen)
        if not changes:
            return existing
        changes["updated_at"] = now
        self.contact_updates.setdefault(existing.id, {}).update(changes)
        contact = replace(existing, **changes)
        index.keep(contact, old=existing)
        return contact

    def _rekey(self, channel: Channel, contact: Contact, msg: InboundMessage, now: datetime) -> Contact:
        """A changed number or user id: rare, so through the one-by-one path, after a flush."""
        self.flush()
        self.applier.rekey(self.conn, channel, contact, msg, now)
        fresh = contact_store.get(self.conn, contact.id)
        assert fresh is not None
        self.contacts[channel.workspace_id].keep(fresh, old=contact)
        return fresh

    def _store_inbound(
        self, channel: Channel, session_id: int, msg: InboundMessage, ts: datetime, now: datetime
    ) -> None:
        row = self.applier.inbound_row(channel, session_id, msg, ts, now)
        self.new_messages.append(row)
        pricing_facts.record_referral(self.conn, session_id, msg, now)
        self.known[(channel.id, msg.wamid)] = MessageState(
            0, session_id, channel.id, Direction.IN, MessageKind.CUSTOMER, msg.wamid, MessageStatus.RECEIVED, None
        )

    # -- statuses of our sends (R12, R15) --------------------------------------------------------------

    def _status(self, channel: Channel, status: StatusUpdate, now: datetime, result: IngestResult) -> None:
        result.statuses += 1
        message = self.known.get((channel.id, status.wamid))
        if message is None:
            row = inbound_store.by_callback(self.conn, channel.id, status.biz_opaque_callback_data)
            if row is None:
                return
            # The send's answer was lost or is not recorded yet: learn its wamid here (this status's
            # event names the row as it was read, as the one-by-one path does).
            message_store.update_message(self.conn, row.id, wamid=status.wamid)
            message = MessageState.of(row)
            self.known[(channel.id, status.wamid)] = replace(message, wamid=status.wamid)
        if message.direction != Direction.OUT:
            return  # statuses describe what we sent (R15)
        self.statuses.append((message.id, status))
        # Before R15's early returns (R23).
        pricing_facts.record_status(self.conn, channel, message, status, now, self.pricing, self._record)
        tracked = self.known.get((channel.id, status.wamid), message)
        values = status_change(tracked.status, status)
        if values is None:
            return
        # Only the last values per message reach the database: the highest status of the batch.
        tracked.status = values["status"]
        self.message_updates.setdefault(message.id, {}).update(values)
        new = values["status"]
        self._status_event(channel, message, new, status.timestamp, values.get("error_code"))
        if new == MessageStatus.FAILED:
            # Rare: it reads the session and its other sends as stored, so what is gathered goes first.
            self.flush()
            failed_status(self.conn, channel, message, values)
            self.sessions.refresh(self.conn, message.session_id)
        if message.kind != MessageKind.REMINDER:
            return
        session = self.sessions.get(self.conn, message.session_id)
        if session is None:
            return
        if new == MessageStatus.FAILED:
            result.scheduled(now)
            change = reminder_send_outcome(
                state_of(session),
                silence_t=message.silence_t,
                outcome=SendOutcome.FAILED,
                policy=channel.policy,
                now=now,
                at=status.timestamp,
                error_code=values.get("error_code"),
            )
            self.sessions.change(self.conn, channel, session, change)
            return
        change = reminder_status(state_of(session), silence_t=message.silence_t, status=MessageStatus(new))
        if not change.empty:
            self.sessions.change(self.conn, channel, session, change)
            result.scheduled(now)

    def _status_event(
        self, channel: Channel, message: MessageState, status: str, at: datetime, code: int | None
    ) -> None:
        data: dict[str, Any] = {"wamid": message.wamid, "message_id": message.id}
        if code is not None:
            data["error_code"] = code
        self._record(channel, message.session_id, status_event(message.kind, status), at, **data)

    # -- writing ---------------------------------------------------------------------------------------

    def _record(
        self, channel: Channel, session_id: int | None, event_type: EventType, at: datetime, /, **data: Any
    ) -> None:
        self.sessions.writes.record(channel, session_id, event_type, at, **data)

    def flush(self) -> None:
        """Write what is gathered: messages, their status changes, sessions and events."""
        contact_store.update_many(self.conn, self.contact_updates.items())
        message_store.insert_messages(self.conn, self.new_messages)
        message_store.update_messages(self.conn, self.message_updates.items())
        self.sessions.flush(self.conn)
        self.new_messages = []
        self.message_updates = {}
        self.contact_updates = {}

"""The one apply path: a batch of logged bodies (or a slice of a huge one; one body is a batch of one)
applied set-based inside the caller's transaction.

Every step is idempotent — a known wamid changes nothing (R4) and statuses only move forward (R15) —
so a body, or a slice of one, may be applied again safely. A batch reads what it needs in one query
each (channels, contacts, active sessions, known wamids), decides every update in memory with the
rules (R1–R5, R12, R15, R23) through `domain.transitions`, in log-id order, and writes contacts,
sessions, messages, statuses, pricing and events in a few set-based statements: the same rows and
events, in the same order, as applying each body in a batch of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wasession.domain import transitions
from wasession.domain.events import EventType, other_webhook_event
from wasession.domain.records import evolve
from wasession.domain.schedule import effective_timestamp
from wasession.domain.states import Direction, MessageKind, MessageStatus
from wasession.domain.transitions import (
    SendOutcome,
    customer_wrote,
    opened,
    reminder_send_outcome,
    reminder_status,
)
from wasession.ingest import pricing as pricing_facts
from wasession.ingest.batch import BodyToApply, Update
from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult
from wasession.lifecycle import marketing
from wasession.lifecycle.batch_sessions import BatchSessions
from wasession.lifecycle.send_failures import send_failed
from wasession.lifecycle.session_writes import SessionWrites, state_of
from wasession.observability import metrics
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import pricing as pricing_store
from wasession.store.channels import Channel, ChannelCache
from wasession.store.contacts import Contact, Seen
from wasession.store.db import Connection
from wasession.store.messages import (
    FINAL_STATUSES,
    STATUS_RANK,
    CallbackTarget,
    MessageRow,
    MessageState,
    MessageUpdate,
)
from wasession.store.pricing import PricingSaves, StoredPricing
from wasession.store.sessions import SessionRow
from wasession.whatsapp.payload import InboundMessage, OtherUpdate, StatusUpdate, marketing_preferences


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
    """What a `failed` status changes beyond the message's row: the operator's
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
    """`reopen_within` (issue 13): the change that reopens the session a timeout
    closed moments ago with this customer message, or None when it does not reopen."""
    state = state_of(latest)
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


def inbound_row(channel: Channel, session_id: int, msg: InboundMessage, ts: datetime, now: datetime) -> dict[str, Any]:
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


def _seen(msg: InboundMessage) -> Seen:
    """What a customer message says about its sender's contact."""
    info = msg.contact
    return Seen(
        msg.wa_id,
        msg.user_id,
        info.parent_user_id if info else None,
        info.profile_name if info else None,
        info.username if info else None,
    )


class Applier:
    """The apply path's entry: it keeps the channel cache across batches."""

    def __init__(self, channels: ChannelCache) -> None:
        self.channels = channels

    def apply(self, conn: Connection, bodies: Sequence[BodyToApply], channels: dict[str, Channel | None]) -> None:
        """Apply a batch of logged bodies inside the caller's transaction, filling each body's
        `result`: the same state and events as applying them in batches of one in the order given,
        each with its own `received_at` as now (R3's clamp uses the logged arrival). `channels`
        holds the channels read in this transaction (on SQLite no other writer can change one while
        it is open; on PostgreSQL the whole batch sees a channel as of its first read).

        An `IntegrityError` (another process created the same contact or session meanwhile, on
        PostgreSQL) leaves the transaction to be rolled back and the batch to be applied again."""
        BatchApply(self.channels, conn, channels).run(bodies)


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

    def copy(self) -> _Contacts:
        other = _Contacts(())
        other._by_wa, other._by_user = dict(self._by_wa), dict(self._by_user)
        return other

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

    def __init__(self, cache: ChannelCache, conn: Connection, channels: dict[str, Channel | None]) -> None:
        self.cache = cache
        self.conn = conn
        self.channels = channels
        self.sessions = BatchSessions(SessionWrites())
        self.contacts: dict[int, _Contacts] = {}
        self.known: dict[tuple[int, str], MessageState] = {}
        self.awaiting: dict[tuple[int, int], list[MessageState]] = {}  # sends without a wamid yet, newest first
        self.pricing: dict[int, StoredPricing | None] = {}
        self.pricing_saves = PricingSaves()
        self.costs = pricing_facts.Costs()
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
            self.channels[phone_number_id] = self.cache.by_phone_number_id(self.conn, phone_number_id)
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
        # A status may come before its send's answer is recorded (Meta posts `sent` at once): it names
        # the send by its callback data instead, looked up for the whole batch in one query.
        named: set[tuple[int, int]] = set()
        for r in routed:
            if isinstance(r.update, StatusUpdate) and r.channel is not None:
                target = CallbackTarget.parse(r.update.biz_opaque_callback_data)
                if target is not None and (r.channel.id, r.update.wamid) not in self.known:
                    named.add((r.channel.id, target.session_id))
        self.awaiting = message_store.awaiting_wamid(self.conn, named)
        # What Meta priced so far for the sends the batch's statuses name (R23): one query, not one a status.
        outgoing = [m for m in self.known.values() if m.direction == Direction.OUT]
        outgoing += [m for states in self.awaiting.values() for m in states]
        sends = [m.id for m in outgoing]
        self.pricing = pricing_store.get_many(self.conn, sends)
        for workspace_id, (wa, users) in names.items():
            self.contacts[workspace_id] = _Contacts(
                contact_store.find_many(self.conn, workspace_id, wa_ids=wa, user_ids=users)
            )
        self._insert_new_contacts(routed)
        self.sessions.load_active(self.conn, [i for index in self.contacts.values() for i in index.ids()])
        self.sessions.load(self.conn, [m.session_id for m in outgoing if m.kind == MessageKind.REMINDER])

    def _insert_new_contacts(self, routed: Sequence[_Routed]) -> None:
        """The batch's new contacts in one statement, before anything else is decided: the messages
        are walked as `_message` will walk them, finding contacts as `_contact_seen` will (on a
        scratch copy of the index), so the same contacts are created with the same values and ids,
        in the same order, as one at a time. The walk stops where a later contact could depend on
        what happens in between (a changed number, a wamid seen twice in the batch); from there
        on `_contact_seen` inserts the few left one at a time."""
        scratch: dict[int, _Contacts] = {}
        planned: list[tuple[int, Seen, datetime]] = []
        wamids: set[tuple[int, str]] = set()
        for r in routed:
            update, channel = r.update, r.channel
            if channel is None or isinstance(update, OtherUpdate):
                continue
            key = (channel.id, update.wamid)
            if key in wamids:
                break
            wamids.add(key)
            if isinstance(update, StatusUpdate) or update.group_id is not None or key in self.known:
                continue
            if update.type == "system":
                break
            index = scratch.get(channel.workspace_id)
            if index is None:
                index = scratch[channel.workspace_id] = self.contacts.setdefault(
                    channel.workspace_id, _Contacts(())
                ).copy()
            seen = _seen(update)
            existing = index.find(update.wa_id, update.user_id)
            if existing is None:
                placeholder = contact_store.seen_contact(
                    -1 - len(planned), channel.workspace_id, seen, r.body.received_at
                )
                planned.append((channel.workspace_id, seen, r.body.received_at))
                index.keep(placeholder)
                continue
            changes = contact_store.seen_changes(existing, seen)
            if changes:
                index.keep(evolve(existing, **changes), old=existing)
        if not planned:
            return
        for contact in contact_store.insert_many_seen(self.conn, planned):
            self.contacts.setdefault(contact.workspace_id, _Contacts(())).keep(contact)
            self.sessions.new_contact(contact.id)

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
        seen = _seen(msg)
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
        contact = evolve(existing, **changes)
        index.keep(contact, old=existing)
        return contact

    def _rekey(self, channel: Channel, contact: Contact, msg: InboundMessage, now: datetime) -> Contact:
        """A user who changed number or user id keeps their contact and session. Rare, and checked
        against the stored contacts, so after a flush."""
        self.flush()
        changes: dict[str, Any] = {}
        for column, new in (("wa_id", msg.system_new_wa_id), ("user_id", msg.system_new_user_id)):
            if new and getattr(contact, column) != new:
                taken = contact_store.find(
                    self.conn,
                    channel.workspace_id,
                    wa_id=new if column == "wa_id" else None,
                    user_id=new if column == "user_id" else None,
                )
                if taken is None:
                    changes[column] = new
        if changes:
            contact_store.update_fields(self.conn, contact.id, now, **changes)
            self._record(channel, None, EventType.CONTACT_REKEYED, now, contact_id=contact.id, **changes)
        fresh = contact_store.get(self.conn, contact.id)
        assert fresh is not None
        self.contacts[channel.workspace_id].keep(fresh, old=contact)
        return fresh

    def _store_inbound(
        self, channel: Channel, session_id: int, msg: InboundMessage, ts: datetime, now: datetime
    ) -> None:
        if msg.referral is not None and session_id < 0:
            self.flush()  # rare (an ad or Page button): the referral names its session by stored id
        session_id = self.sessions.current_id(session_id)
        row = inbound_row(channel, session_id, msg, ts, now)
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
            target = CallbackTarget.parse(status.biz_opaque_callback_data)
            message = target.pick(self.awaiting.get((channel.id, target.session_id), [])) if target else None
            if message is None:
                return
            # The send's answer was lost or is not recorded yet: learn its wamid here (this status's
            # event names the row as it was read), written with the batch's other message updates.
            self.message_updates.setdefault(message.id, {})["wamid"] = status.wamid
            self.known[(channel.id, status.wamid)] = evolve(message, wamid=status.wamid)
        if message.direction != Direction.OUT:
            return  # statuses describe what we sent (R15)
        self.statuses.append((message.id, status))
        # Before R15's early returns (R23).
        pricing_facts.record_status(
            self.conn, channel, message, status, now, self.pricing, self.pricing_saves, self._record, self.costs
        )
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
        if session_id is not None:
            session_id = self.sessions.current_id(session_id)
        self.sessions.writes.record(channel, session_id, event_type, at, **data)

    def flush(self) -> None:
        """Write what is gathered: new sessions, messages, their status changes, session updates and events."""
        contact_store.update_many(self.conn, self.contact_updates.items())
        ids = self.sessions.insert_opened(self.conn)
        if ids:
            for row in self.new_messages:
                row["session_id"] = ids.get(row["session_id"], row["session_id"])
        message_store.insert_messages(self.conn, self.new_messages)
        message_store.update_messages(self.conn, self.message_updates.items())
        self.pricing_saves.flush(self.conn)
        self.costs.count(self.conn)
        self.sessions.flush(self.conn)
        self.new_messages = []
        self.message_updates = {}
        self.contact_updates = {}

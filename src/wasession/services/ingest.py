"""Webhook ingest: signature check on raw bytes, durable raw log, then R1–R5, R12 and R15.

The raw body is appended to the webhook log in the same transaction that applies it, so a 2xx
always means the body is on disk; if applying fails, the body is still committed (savepoint) and
can be re-processed later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, select
from sqlalchemy.exc import IntegrityError

from wasession.domain.plan import NEW_SILENCE
from wasession.domain.schedule import effective_timestamp
from wasession.observability import metrics
from wasession.services import sessions as session_ops
from wasession.services.context import ServiceContext
from wasession.store import channels as channel_store
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store import webhook_log
from wasession.store.channels import Channel
from wasession.store.messages import FINAL_STATUSES, STATUS_RANK, MessageRow
from wasession.store.schema import messages as messages_table
from wasession.store.schema import webhook_log as webhook_log_table
from wasession.whatsapp.payload import InboundMessage, OtherUpdate, PayloadError, StatusUpdate, parse_webhook
from wasession.whatsapp.signature import signature_matches, verify_challenge

log = logging.getLogger(__name__)

SECRET_CACHE_SECONDS = 30.0
DEFAULT_RETENTION_DAYS = 30
PRUNE_BATCH = 5000
REPROCESS_BATCH = 200
UNROUTABLE_MARK = "unroutable="
# A reminder's progress follows its message's statuses, forward only (R15); `unknown` is a send
# whose answer was lost, resolved by a status that names it through its callback data.
REMINDER_DELIVERY_RANK = {"unknown": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass
class IngestResult:
    log_id: int | None = None
    messages: int = 0
    opened: int = 0
    duplicates: int = 0
    statuses: int = 0
    others: int = 0
    groups: int = 0
    unroutable: list[str] = field(default_factory=list)
    error: str | None = None

    def outcome(self) -> str:
        if self.error:
            return f"error: {self.error}"
        parts = [
            f"messages={self.messages}",
            f"opened={self.opened}",
            f"duplicates={self.duplicates}",
            f"statuses={self.statuses}",
            f"others={self.others}",
        ]
        if self.groups:
            parts.append(f"groups={self.groups}")
        if self.unroutable:
            parts.append("unroutable=" + ",".join(sorted(set(self.unroutable))))
        return " ".join(parts)


class CredentialCache:
    """App secrets and verify tokens of all channels, decrypted once and refreshed on a miss."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._app_secrets: tuple[str, ...] = ()
        self._verify_tokens: tuple[str, ...] = ()
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    def _load(self) -> None:
        with self._ctx.db.read() as conn:
            pairs = channel_store.all_secrets(conn, self._ctx.box)
        with self._lock:
            self._app_secrets = tuple(dict.fromkeys(s.app_secret for _, s in pairs))
            self._verify_tokens = tuple(dict.fromkeys(s.verify_token for _, s in pairs))
            self._loaded_at = time.monotonic()

    def _fresh(self) -> bool:
        return time.monotonic() - self._loaded_at < SECRET_CACHE_SECONDS

    def signature_ok(self, raw: bytes, header: str | None) -> bool:
        if not self._fresh():
            self._load()
        if any(signature_matches(s, raw, header) for s in self._app_secrets):
            return True
        # A channel created by another process since the last load: look once more.
        self._load()
        return any(signature_matches(s, raw, header) for s in self._app_secrets)

    def challenge(self, params: Mapping[str, str]) -> str | None:
        self._load()
        return verify_challenge(params, self._verify_tokens)


class Ingestor:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.credentials = CredentialCache(ctx)

    @metrics.INGEST_LATENCY.time()
    def ingest(self, raw: bytes) -> IngestResult:
        """Store and apply a body whose signature was already verified."""
        now = self.ctx.clock.now()
        result = IngestResult()
        for attempt in range(3):
            result = IngestResult()
            try:
                with self.ctx.db.write() as conn:
                    result.log_id = webhook_log.append(conn, raw, now)
                    self._apply_logged(conn, result.log_id, raw, now, result)
                break
            except IntegrityError:
                # Two processes opened the same session or contact at once; the retry sees the winner's row.
                if attempt == 2:
                    raise
        if result.opened or result.messages or result.statuses:
            self.ctx.wake()
        return result

    def reprocess(self, log_id: int, raw: bytes) -> IngestResult:
        """Apply a stored body again. Safe to repeat: a known wamid changes nothing (R4) and
        statuses only move forward (R15)."""
        now = self.ctx.clock.now()
        result = IngestResult(log_id=log_id)
        with self.ctx.db.write() as conn:
            self._apply_logged(conn, log_id, raw, now, result)
        self.ctx.wake()
        return result

    def _apply_logged(self, conn: Connection, log_id: int, raw: bytes, now: datetime, result: IngestResult) -> None:
        savepoint = conn.begin_nested()
        try:
            self._apply(conn, raw, now, result)
            savepoint.commit()
        except IntegrityError:
            raise
        except Exception as exc:  # the body is kept for re-processing whatever went wrong
            savepoint.rollback()
            log.exception("webhook %s could not be applied", log_id)
            result.error = f"{type(exc).__name__}: {exc}"
        webhook_log.mark_processed(conn, log_id, now, result.outcome())

    # -- applying a verified body ---------------------------------------------------------------

    def _apply(self, conn: Connection, raw: bytes, now: datetime, result: IngestResult) -> None:
        try:
            batch = parse_webhook(raw)
        except PayloadError as exc:
            result.error = f"unreadable payload: {exc}"
            return
        channels: dict[str, Channel | None] = {}

        def channel_for(phone_number_id: str) -> Channel | None:
            if phone_number_id not in channels:
                channels[phone_number_id] = channel_store.by_phone_number_id(conn, phone_number_id)
            found = channels[phone_number_id]
            if found is None:
                result.unroutable.append(phone_number_id)
            return found

        for msg in sorted(batch.messages, key=lambda m: m.timestamp):
            channel = channel_for(msg.phone_number_id)
            if channel is not None:
                self._apply_message(conn, channel, msg, now, result)
        for status in batch.statuses:
            channel = channel_for(status.phone_number_id)
            if channel is not None:
                self._apply_status(conn, channel, status, now, result)
        for other in batch.others:
            result.others += 1
            channel = channel_for(other.phone_number_id) if other.phone_number_id else None
            if channel is not None:
                self._record_other(conn, channel, other, now)

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
        if msg.type == "system":
            self._rekey(conn, channel, contact, msg, now)
        result.messages += 1
        ts = effective_timestamp(msg.timestamp, now)
        active = session_store.active_for(conn, channel.id, contact.id)

        if not msg.opens_window:
            target = active or session_store.latest_for(conn, channel.id, contact.id)
            if target is None:
                session_ops.record(conn, channel, None, "message_without_session", now, wamid=msg.wamid, type=msg.type)
                return
            self._store_inbound(conn, channel, target.id, msg, ts, now)
            session_ops.record(conn, channel, target.id, "customer_" + msg.type, ts, wamid=msg.wamid, counts=False)
            return

        if active is None:
            latest = session_store.latest_for(conn, channel.id, contact.id)
            if latest is not None and latest.closed_at is not None and ts < latest.closed_at:
                # Written before that session closed, delivered late: it belongs to that transcript (R5).
                self._store_inbound(conn, channel, latest.id, msg, ts, now)
                session_ops.record(conn, channel, latest.id, "customer_message", ts, wamid=msg.wamid, late=True)
                return
            self._open(conn, channel, contact.id, msg, ts, now)
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
                awaiting="agent",
                reminder_reason=None,
            )
            session_ops.record(
                conn,
                channel,
                active.id,
                "customer_message",
                ts,
                wamid=msg.wamid,
                type=msg.type,
                window_closes_at=p.window_closes_at,
                closes_at=p.closes_at,
                reminder_due_at=p.reminder_due_at,
            )
        else:
            # R5: older than T, kept in its place in the transcript; T does not move back.
            session_ops.record(conn, channel, active.id, "customer_message", ts, wamid=msg.wamid, late=True)

    def _open(
        self,
        conn: Connection,
        channel: Channel,
        contact_id: int,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
    ) -> None:
        from wasession.domain.plan import plan

        p = plan(last_customer_at=ts, policy=channel.policy, reminder_state=NEW_SILENCE, now=now)
        session_id = session_store.insert_session(
            conn,
            channel_id=channel.id,
            contact_id=contact_id,
            status="active",
            opened_at=ts,
            last_customer_at=ts,
            last_message_at=ts,
            awaiting="agent",
            **session_ops.plan_values(p),
        )
        self._store_inbound(conn, channel, session_id, msg, ts, now)
        session_ops.record(conn, channel, session_id, "session_opened", ts, wamid=msg.wamid)
        session_ops.record(
            conn,
            channel,
            session_id,
            "customer_message",
            ts,
            wamid=msg.wamid,
            type=msg.type,
            window_closes_at=p.window_closes_at,
            closes_at=p.closes_at,
            reminder_due_at=p.reminder_due_at,
        )

    def _store_inbound(
        self,
        conn: Connection,
        channel: Channel,
        session_id: int,
        msg: InboundMessage,
        ts: datetime,
        now: datetime,
    ) -> None:
        message_store.insert_message(
            conn,
            session_id=session_id,
            channel_id=channel.id,
            direction="in",
            kind="customer",
            wamid=msg.wamid,
            type=msg.type,
            body=msg.text,
            payload=dict(msg.raw),
            sent_at=ts,
            created_at=now,
            status="received",
        )

    def _rekey(
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
            session_ops.record(conn, channel, None, "contact_rekeyed", now, contact_id=contact.id, **changes)

    def _apply_status(
        self, conn: Connection, channel: Channel, status: StatusUpdate, now: datetime, result: IngestResult
    ) -> None:
        result.statuses += 1
        message = message_store.by_wamid(conn, channel.id, status.wamid)
        if message is None:
            message = self._by_callback(conn, channel, status)
            if message is None:
                return
            # The send's answer was lost (outcome unknown) or is not recorded yet: learn its wamid here.
            message_store.update_message(conn, message.id, wamid=status.wamid)
        current = message.status
        if current == "unknown" or current == "sending":
            current = "accepted"  # the status proves Meta took it
        elif current in FINAL_STATUSES or current == "read":
            return  # failed is final and read is the last step (R15)
        new = status.status
        if new == "failed":
            error = status.errors[0] if status.errors else None
            message_store.update_message(
                conn,
                message.id,
                status="failed",
                status_at=status.timestamp,
                error_code=error.code if error else None,
                error_title=error.title if error else None,
                error_detail=(error.details or error.message) if error else None,
            )
            self._status_event(conn, channel, message, "failed", status.timestamp, error.code if error else None)
            session = session_store.get(conn, message.session_id)
            if message.kind == "reminder" and session is not None:
                session_ops.reminder_failed(
                    conn,
                    channel,
                    session,
                    message.silence_t,
                    error.code if error else None,
                    status.timestamp,
                    now,
                )
            return
        if STATUS_RANK.get(new, -1) <= STATUS_RANK.get(current, -1):
            return  # duplicates and regressions (a late `sent` after `read`) change nothing
        message_store.update_message(conn, message.id, status=new, status_at=status.timestamp)
        self._status_event(conn, channel, message, new, status.timestamp, None)
        if message.kind == "reminder":
            session = session_store.get(conn, message.session_id)
            rank = REMINDER_DELIVERY_RANK
            if (
                session is not None
                and message.silence_t == session.last_customer_at
                and session.reminder_state in rank
                and rank.get(new, -1) > rank[session.reminder_state]
            ):
                session_store.update_session(conn, session.id, reminder_state=new)

    @staticmethod
    def _by_callback(conn: Connection, channel: Channel, status: StatusUpdate) -> MessageRow | None:
        """The message a status names through `biz_opaque_callback_data`, if it has no wamid yet.

        Agent and template sends carry `wasession:<kind>:<session>:<message>`; reminders
        `wasession:reminder:<session>`, which names the newest reminder of that session still
        waiting for its wamid.
        """
        parts = (status.biz_opaque_callback_data or "").split(":")
        if len(parts) not in (3, 4) or parts[0] != "wasession" or not all(p.isdigit() for p in parts[2:]):
            return None
        query = select(messages_table).where(
            messages_table.c.channel_id == channel.id,
            messages_table.c.session_id == int(parts[2]),
            messages_table.c.kind == parts[1],
            messages_table.c.direction == "out",
            messages_table.c.wamid.is_(None),
            messages_table.c.status.in_(("sending", "unknown", "accepted")),
        )
        if len(parts) == 4:
            query = query.where(messages_table.c.id == int(parts[3]))
        row = conn.execute(query.order_by(messages_table.c.id.desc()).limit(1)).mappings().first()
        return MessageRow(**dict(row)) if row else None

    def _status_event(
        self,
        conn: Connection,
        channel: Channel,
        message: message_store.MessageRow,
        status: str,
        at: datetime,
        code: int | None,
    ) -> None:
        prefix = "reminder" if message.kind == "reminder" else "message"
        data: dict[str, Any] = {"wamid": message.wamid, "message_id": message.id}
        if code is not None:
            data["error_code"] = code
        session_ops.record(conn, channel, message.session_id, f"{prefix}_{status}", at, **data)

    def _record_other(self, conn: Connection, channel: Channel, other: OtherUpdate, now: datetime) -> None:
        session_ops.record(conn, channel, None, "webhook_" + other.kind, now, field=other.field)


# -- the raw webhook log: retention, re-processing, unroutable bodies ---------------------------------


@dataclass(frozen=True)
class LoggedBody:
    id: int
    received_at: datetime
    processed_at: datetime | None
    outcome: str | None

    @property
    def unroutable_ids(self) -> list[str]:
        """The phone_number_ids of this body that no channel claims."""
        outcome = self.outcome or ""
        at = outcome.find(UNROUTABLE_MARK)
        if at < 0:
            return []
        return outcome[at + len(UNROUTABLE_MARK) :].split(" ", 1)[0].split(",")


def prune_webhook_log(ctx: ServiceContext, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Delete stored bodies received more than `retention_days` ago; returns how many."""
    if retention_days < 1:
        raise ValueError(f"webhook retention must be at least 1 day; got {retention_days}")
    cutoff = ctx.clock.now() - timedelta(days=retention_days)
    removed = 0
    while True:  # in slices, so a large backlog never holds one long write lock
        with ctx.db.write() as conn:
            ids = select(webhook_log_table.c.id).where(webhook_log_table.c.received_at < cutoff).limit(PRUNE_BATCH)
            count = conn.execute(delete(webhook_log_table).where(webhook_log_table.c.id.in_(ids))).rowcount
        removed += count
        if count < PRUNE_BATCH:
            return removed


def logged_bodies(
    ctx: ServiceContext,
    *,
    since: datetime | None = None,
    log_id: int | None = None,
    errors_only: bool = False,
    unroutable_only: bool = False,
    after_id: int = 0,
    limit: int = REPROCESS_BATCH,
) -> list[LoggedBody]:
    t = webhook_log_table
    conditions = [t.c.id > after_id]
    if since is not None:
        conditions.append(t.c.received_at >= since)
    if log_id is not None:
        conditions.append(t.c.id == log_id)
    if errors_only:
        conditions.append(t.c.outcome.like("error%"))
    if unroutable_only:
        conditions.append(t.c.outcome.like(f"%{UNROUTABLE_MARK}%"))
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.received_at, t.c.processed_at, t.c.outcome)
            .where(and_(*conditions))
            .order_by(t.c.id)
            .limit(limit)
        ).all()
    return [LoggedBody(int(r[0]), r[1], r[2], r[3]) for r in rows]


def reprocess_logged(
    ingestor: Ingestor,
    *,
    since: datetime | None = None,
    log_id: int | None = None,
    errors_only: bool = False,
) -> Iterator[IngestResult]:
    """Apply stored bodies again, oldest first, one transaction each."""
    ctx = ingestor.ctx
    after = 0
    while True:
        batch = logged_bodies(ctx, since=since, log_id=log_id, errors_only=errors_only, after_id=after)
        for entry in batch:
            with ctx.db.read() as conn:
                raw = conn.execute(select(webhook_log_table.c.body).where(webhook_log_table.c.id == entry.id)).scalar()
            if raw is not None:
                yield ingestor.reprocess(entry.id, bytes(raw))
        if len(batch) < REPROCESS_BATCH:
            return
        after = batch[-1].id


def body_bytes(body: bytes | Mapping[str, Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()

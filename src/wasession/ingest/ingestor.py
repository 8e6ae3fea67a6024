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
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, select
from sqlalchemy.exc import IntegrityError

from wasession.domain.events import other_webhook_event
from wasession.domain.plan import NEW_SILENCE
from wasession.domain.schedule import effective_timestamp
from wasession.lifecycle import writes as session_ops
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
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
MAX_GROUP = 200  # bodies per group-commit transaction (`GroupCommit`)
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
    # The earliest due time this body gave a session (None: it scheduled nothing); a status of a
    # reminder may re-plan its session, so it counts as due now. For waking the due loop only.
    due_at: datetime | None = None
    # Window-opening customer messages as (phone_number_id, wa_id or user_id, T): after the commit
    # they are told to whoever must know that a customer wrote (the built-in fake Cloud API).
    customers: list[tuple[str, str, datetime]] = field(default_factory=list)

    def scheduled(self, due_at: datetime | None) -> None:
        if due_at is not None and (self.due_at is None or due_at < self.due_at):
            self.due_at = due_at

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
        self._current: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # (encrypted, decrypted)

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

    def signature_ok_cached(self, raw: bytes, header: str | None) -> bool:
        """True if a secret loaded less than SECRET_CACHE_SECONDS ago matches; never reads the
        database (False means: ask `signature_ok`)."""
        return self._fresh() and any(signature_matches(s, raw, header) for s in self._app_secrets)

    def signature_ok(self, raw: bytes, header: str | None) -> bool:
        if not self._fresh():
            self._load()
        if any(signature_matches(s, raw, header) for s in self._app_secrets):
            return True
        # A channel created by another process since the last load: look once more.
        self._load()
        return any(signature_matches(s, raw, header) for s in self._app_secrets)

    def current_app_secrets(self, conn: Connection) -> tuple[str, ...]:
        """The app secrets stored right now, read in the caller's transaction (decrypted again
        only when a stored secret changed), so a rotation by any process counts at once."""
        encrypted = channel_store.app_secrets_encrypted(conn)
        known, decrypted = self._current
        if encrypted != known:
            decrypted = tuple(dict.fromkeys(self._ctx.box.decrypt(e) for e in encrypted))
            self._current = (encrypted, decrypted)
            with self._lock:
                self._app_secrets = decrypted
                self._loaded_at = time.monotonic()
        return decrypted

    def challenge(self, params: Mapping[str, str]) -> str | None:
        self._load()
        return verify_challenge(params, self._verify_tokens)


class SignatureRejected(Exception):
    """The body's signature matches none of the app secrets stored: nothing of it was stored."""


_Waiting = tuple[bytes, str | None, Future[IngestResult]]


class GroupCommit:
    """One writer thread that stores and applies every verified body waiting, in one transaction.

    SQLite has one writer; many request threads each taking the write lock for one body spend
    most of their time handing the lock over (and sleeping in SQLite's busy handler). Here the
    requests queue in memory, and the writer takes all that are waiting — each body in its own
    savepoint (`Ingestor.ingest_in`), so one bad body never fails the others — commits once, and
    only then resolves every request's future: a 2xx still means stored and applied. A body that
    raises gets its exception, with nothing of it stored. If the group transaction itself fails
    (a lost connection, a failed commit), nothing of it was stored, and each body is tried again
    in a transaction of its own.

    The batch is whatever arrived while the previous one was being written, so at a low rate
    every body is written alone at once, and under load the batches grow with the queue.
    """

    def __init__(self, ingestor: Ingestor, *, max_batch: int = MAX_GROUP, idle_exit: float = 30.0) -> None:
        self._ingestor = ingestor
        self._max_batch = max_batch
        self._idle_exit = idle_exit  # the thread ends when idle this long and starts again on demand
        self._cond = threading.Condition()
        self._waiting: deque[_Waiting] = deque()
        self._thread: threading.Thread | None = None
        self.groups = 0  # for tests and profiles: transactions written
        self.largest = 0

    def submit(self, raw: bytes, signature: str | None) -> Future[IngestResult]:
        future: Future[IngestResult] = Future()
        with self._cond:
            self._waiting.append((raw, signature, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasession-ingest", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        return future

    def _take(self) -> list[_Waiting]:
        with self._cond:
            if not self._waiting:
                self._cond.wait(self._idle_exit)
            if not self._waiting:
                self._thread = None  # submit() starts a new one
                return []
            n = min(len(self._waiting), self._max_batch)
            return [self._waiting.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                return
            try:
                self._write(group)
            except BaseException as exc:  # never leave a request waiting forever
                log.exception("webhook group commit failed")
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)

    def _write(self, group: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            try:
                # Optimistic: no savepoints (they cost about as much as a body's own statements).
                outcomes = self._attempt(group, careful=False)
            except _Careful:
                # A body raised while applying: the group was rolled back; again, each body in a
                # savepoint of its own, so that one keeps its raw log and fails alone.
                outcomes = self._attempt(group, careful=True)
        except Exception:
            if len(group) == 1:
                raise
            log.exception("webhook group of %d could not be committed; writing each alone", len(group))
            for raw, signature, future in group:
                try:
                    future.set_result(self._ingestor.ingest(raw, signature))
                except Exception as exc:
                    future.set_exception(exc)
            return
        self.groups += 1
        self.largest = max(self.largest, len(group))
        elapsed = time.perf_counter() - started
        # The engine is woken (a few Event.set calls) before the answers go out, so a client that
        # has its 200 knows the loops have been told.
        try:
            self._ingestor.after_commit([o for o in outcomes if isinstance(o, IngestResult)])
        except Exception:  # committed is committed: a failed wake-up must not turn the 200s into errors
            log.exception("waking the engine after a webhook group failed")
        for (_, _, future), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, IngestResult):
                metrics.INGEST_LATENCY.observe(elapsed)
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _attempt(self, group: list[_Waiting], *, careful: bool) -> list[IngestResult | Exception]:
        ingestor = self._ingestor
        outcomes: list[IngestResult | Exception] = []
        with ingestor.ctx.db.write() as conn:
            channels: dict[str, Channel | None] = {}
            secrets: tuple[str, ...] | None = None
            for raw, signature, _ in group:
                if signature is not None:
                    # Checked again against the secrets stored now: one rotated a moment ago (by
                    # any process) no longer signs, though the request checked it cached.
                    if secrets is None:
                        secrets = ingestor.credentials.current_app_secrets(conn)
                    if not any(signature_matches(s, raw, signature) for s in secrets):
                        outcomes.append(SignatureRejected())
                        continue
                if not careful:
                    try:
                        outcomes.append(ingestor.ingest_in(conn, raw, channels, careful=False))
                    except Exception as exc:
                        raise _Careful from exc
                    continue
                try:
                    outcomes.append(ingestor.ingest_in(conn, raw, channels))
                except IntegrityError as exc:
                    outcomes.append(exc)
        return outcomes


class _Careful(Exception):
    """A body of an optimistic group raised: roll back, write the group with savepoints."""


class Ingestor:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        wake: Callable[[IngestResult], None] | None = None,
        on_customer: Callable[[str, str, datetime], None] | None = None,
    ) -> None:
        self.ctx = ctx
        # Told of every committed window-opening customer message, whichever path delivered it.
        self.on_customer = on_customer
        self.credentials = CredentialCache(ctx)
        self.channels = channel_store.ChannelCache()
        # After a commit: which engine loops to wake depends on what the bodies changed.
        self._wake = wake or (lambda _result: ctx.wake())
        self._group = GroupCommit(self)

    def ingest(self, raw: bytes, signature: str | None = None) -> IngestResult:
        """Store and apply a body, in a transaction of its own. Without `signature` the caller
        has verified the body; with it, it is checked against the app secrets stored now
        (`SignatureRejected` if none matches, and nothing is stored)."""
        started = time.perf_counter()
        with self.ctx.db.write() as conn:
            if signature is not None and not any(
                signature_matches(s, raw, signature) for s in self.credentials.current_app_secrets(conn)
            ):
                raise SignatureRejected()
            result = self.ingest_in(conn, raw, {})
        metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
        self.after_commit([result])
        return result

    def submit(self, raw: bytes, signature: str | None = None) -> Future[IngestResult]:
        """`ingest`, together with the other bodies waiting (group commit, see `GroupCommit`).

        The future is resolved once the transaction holding the body has committed: its result
        means stored and applied exactly as `ingest` would have; its exception (such as
        `SignatureRejected`) means nothing of this body was stored."""
        return self._group.submit(raw, signature)

    def ingest_in(
        self, conn: Connection, raw: bytes, channels: dict[str, Channel | None], *, careful: bool = True
    ) -> IngestResult:
        """Append and apply one body inside the caller's transaction. Applying runs in a savepoint:
        an error keeps the raw body (marked with the error) and undoes the rest; an integrity
        error (two processes opening the same session or contact at once) is retried, and the
        third one removes the raw body again, so nothing of this body is left, and is raised.

        `careful=False`: no savepoint, and any error is raised; the caller must roll back its
        whole transaction then (and may write the body again carefully)."""
        now = self.ctx.clock.now()
        if not careful:
            # Applied first, then logged with its outcome in one INSERT (nothing reads the log
            # row while applying; if applying raises, the caller rolls back everything).
            result = IngestResult()
            self._apply(conn, raw, now, result, channels)
            result.log_id = webhook_log.append_processed(conn, raw, now, result.outcome())
            return result
        log_id = webhook_log.append(conn, raw, now)
        for attempt in range(3):
            result = IngestResult(log_id=log_id)
            try:
                self._apply_logged(conn, log_id, raw, now, result, channels)
                return result
            except IntegrityError:
                # The savepoint is rolled back; the retry sees the other writer's row.
                channels.clear()
                if attempt == 2:
                    webhook_log.remove(conn, log_id)
                    raise
        raise AssertionError("unreachable")

    def after_commit(self, results: list[IngestResult]) -> None:
        merged = IngestResult()
        if self.on_customer is not None:
            for r in results:
                for pnid, user, at in r.customers:
                    self.on_customer(pnid, user, at)
        for r in results:
            merged.opened += r.opened
            merged.messages += r.messages
            merged.statuses += r.statuses
            if r.due_at is not None and (merged.due_at is None or r.due_at < merged.due_at):
                merged.due_at = r.due_at
        if merged.opened or merged.messages or merged.statuses:
            self._wake(merged)

    def reprocess(self, log_id: int, raw: bytes) -> IngestResult:
        """Apply a stored body again. Safe to repeat: a known wamid changes nothing (R4) and
        statuses only move forward (R15)."""
        now = self.ctx.clock.now()
        result = IngestResult(log_id=log_id)
        with self.ctx.db.write() as conn:
            self._apply_logged(conn, log_id, raw, now, result, {})
        self.ctx.wake()
        return result

    def _apply_logged(
        self,
        conn: Connection,
        log_id: int,
        raw: bytes,
        now: datetime,
        result: IngestResult,
        channels: dict[str, Channel | None],
    ) -> None:
        savepoint = conn.begin_nested()
        try:
            self._apply(conn, raw, now, result, channels)
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()
            raise
        except Exception as exc:  # the body is kept for re-processing whatever went wrong
            savepoint.rollback()
            log.exception("webhook %s could not be applied", log_id)
            result.error = f"{type(exc).__name__}: {exc}"
        webhook_log.mark_processed(conn, log_id, now, result.outcome())

    # -- applying a verified body ---------------------------------------------------------------

    def _apply(
        self, conn: Connection, raw: bytes, now: datetime, result: IngestResult, channels: dict[str, Channel | None]
    ) -> None:
        try:
            batch = parse_webhook(raw)
        except PayloadError as exc:
            result.error = f"unreadable payload: {exc}"
            return

        def channel_for(phone_number_id: str) -> Channel | None:
            # Read once per transaction: no other writer can change the row while it is open on
            # SQLite, and on PostgreSQL the whole group sees the channel as of its first body.
            if phone_number_id not in channels:
                channels[phone_number_id] = self.channels.by_phone_number_id(conn, phone_number_id)
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
        if msg.opens_window:
            result.customers.append((channel.phone_number_id, msg.wa_id or msg.user_id or "", ts))

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
                awaiting="agent",
                reminder_reason=None,
            )
            result.scheduled(p.due_at)
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
    ) -> datetime | None:
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
                result.scheduled(now)
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
                result.scheduled(now)

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
        event_type, extra = other_webhook_event(other.kind)
        session_ops.record(conn, channel, None, event_type, now, field=other.field, **extra)


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

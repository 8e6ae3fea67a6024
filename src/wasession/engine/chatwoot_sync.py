"""wasession → Chatwoot (issue 22): the loop that tells each connected Chatwoot what the lifecycle did.

Read top to bottom: each unpaused connection follows the events of its channel by id (`follow`) and
turns them into calls: a closure resolves the conversation (after the closing message, when there is
one), any change of a session's plan refreshes the conversation's custom attributes, and with
`send_via=direct` each automated send becomes a private note. `run_pending` makes the due calls in a
thread pool, at most `PER_CONNECTION` at a time per connection, never waiting for a slow Chatwoot: a
connection whose Chatwoot hangs holds only its own slots, so other connections, ingest and the outbox
go on (bench/chatwoot_isolation.py measures it).

Retries: resolving and setting attributes are idempotent, so any failure short of a refusal is retried
with backoff. A note is not: it is marked `sending` before the request and a note whose outcome is unknown
is never added again, as the outbox does for messages (R14).

Sending through Chatwoot (`send_via=chatwoot`, the default) is the outbox's own path: `ChatwootSend` stands
in for the Graph client of the channel, so a reminder or closing message keeps the outbox's at-most-once
states (pending → sending → accepted | unknown) and is created in the conversation as an outgoing message,
which Chatwoot sends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from wasession.chatwoot import conversations
from wasession.chatwoot.client import ChatwootClient, ChatwootError, MaybeSent, NotSent, Refused
from wasession.domain import chatwoot as cw
from wasession.domain.events import EventType
from wasession.domain.states import CloseReason, MessageStatus, ReminderState
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbound.addresses import AddressPolicy
from wasession.store import chatwoot as store
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.chatwoot import Call, ChatwootConnection, ConnectionSecrets
from wasession.whatsapp.client import CloudClient, SendResult
from wasession.whatsapp.errors import CloudApiError, OutcomeUnknownError, RequestNotSentError

log = logging.getLogger(__name__)

PER_CONNECTION = 4  # calls one connection may have in flight
EVENTS_PER_ROUND = 500
CALLS_PER_ROUND = 50
MAX_ATTEMPTS = 20  # with the backoff below, about an hour and a half of retrying
MAX_BACKOFF = 300.0
# How long a resolve waits for the closing message before it resolves anyway (a paused channel's message
# may wait for new credentials for days; Chatwoot should not show the conversation open meanwhile).
CLOSING_WAIT = timedelta(seconds=60)
WAIT_STEP = 0.05  # a closing message takes one request to Chatwoot: the resolve looks again this soon
STUCK_AFTER = timedelta(minutes=5)
CONNECTIONS_FRESH = 1.0
# Custom attributes are refreshed this long after the change that made them stale, so a burst of events on
# a session (a message, its reminder replanned, a status) costs one call, not one per event.
ATTRIBUTES_DELAY = timedelta(seconds=1)

# Session events after which the conversation's custom attributes may be out of date.
_PLAN_EVENTS = frozenset(
    {
        EventType.SESSION_OPENED,
        EventType.SESSION_CLOSED,
        EventType.SESSION_REOPENED,
        EventType.SESSION_REPLANNED,
        EventType.SESSION_SNOOZED,
        EventType.SESSION_WOKE,
        EventType.WINDOW_CLOSED,
        EventType.CUSTOMER_MESSAGE,
        EventType.AGENT_MESSAGE,
        EventType.AGENT_TEMPLATE,
        EventType.REMINDER_QUEUED,
        EventType.REMINDER_SKIPPED,
        EventType.REMINDER_CANCELLED,
    }
)
_RESOLVED_BY = frozenset({CloseReason.TIMEOUT, CloseReason.AGENT})
_NOTED = frozenset({EventType.REMINDER_QUEUED, EventType.CLOSING_MESSAGE_QUEUED})
_FINAL = frozenset({s.value for s in MessageStatus} - {MessageStatus.PENDING, MessageStatus.SENDING}) | {
    "unknown",
    "skipped",
}


def calls_for(connection: ChatwootConnection, event: store.EventRow) -> list[tuple[str, int | None]]:
    """The calls one event of the channel asks for: (kind, message id)."""
    if event.session_id is None:
        return []
    out: list[tuple[str, int | None]] = []
    if event.type == EventType.SESSION_CLOSED and event.data.get("reason") in _RESOLVED_BY:
        out.append(("resolve", None))
    if event.type in _NOTED and connection.send_via == "direct" and isinstance(event.data.get("message_id"), int):
        out.append(("note", event.data["message_id"]))
    if event.type in _PLAN_EVENTS:
        out.append(("attributes", None))
    return out


def backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF, 2 ** max(0, attempt - 1)))


class _Overtaken(Exception):
    pass


@dataclass
class SyncReport:
    followed: int = 0
    started: int = 0
    done: int = 0

    @property
    def total(self) -> int:
        return self.followed + self.started + self.done


class ChatwootSync:
    def __init__(self, ctx: ServiceContext, *, policy: AddressPolicy, pool_size: int = 16) -> None:
        self.ctx = ctx
        self.policy = policy
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="wasession-chatwoot")
        self._flights: dict[int, tuple[int, Future[None]]] = {}  # call id -> (connection id, future)
        self._lock = threading.Lock()
        self.wait = True  # the Simulator waits for each round's calls; the engine's loop does not
        self.on_done: Callable[[], None] | None = None
        self._connections: tuple[float, dict[int, ChatwootConnection]] = (float("-inf"), {})
        self._shown_error: dict[int, str | None] = {}  # the last error written per connection

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- which channels send through Chatwoot (the outbox asks for every job) ---------------------

    def connection_of(self, channel_id: int) -> ChatwootConnection | None:
        at, by_channel = self._connections
        if time.monotonic() - at >= CONNECTIONS_FRESH:
            with self.ctx.db.read() as conn:
                by_channel = {c.channel_id: c for c in store.unpaused(conn)}
            self._connections = (time.monotonic(), by_channel)
        return by_channel.get(channel_id)

    def client(self, connection: ChatwootConnection, secrets: ConnectionSecrets) -> ChatwootClient:
        return ChatwootClient(connection.url, secrets.api_token, connection.account_id, self.policy)

    # -- the loop ----------------------------------------------------------------------------------

    def next_attempt_at(self) -> datetime | None:
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:
            connections = store.unpaused(conn)
            if any(store.has_events_after(conn, c.channel_id, c.event_cursor) for c in connections):
                return now
            earliest = store.next_call_at(conn) if connections else None
        with self._lock:
            flying = any(not f.done() for _, f in self._flights.values())
        if earliest is not None and flying and earliest <= now:
            # The due ones may all be in flight (a slow Chatwoot): look again shortly, not in a hot loop.
            return now + timedelta(seconds=0.1)
        return earliest

    def run_pending(self) -> SyncReport:
        report = SyncReport()
        self._connections = (float("-inf"), {})  # a paused or removed connection is seen at once
        with self.ctx.db.read() as conn:
            connections = store.unpaused(conn)
        for connection in connections:
            report.followed += self.follow(connection)
            report.started += self._start_due(connection)
        if self.wait:
            with self._lock:
                futures = [f for _, f in self._flights.values()]
            wait(futures)
            report.done += len(futures)
        return report

    def follow(self, connection: ChatwootConnection) -> int:
        """Turn the channel's new events into calls, and move the cursor past them, in one transaction."""
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:  # most rounds find nothing: no write lock taken for them
            if not store.has_events_after(conn, connection.channel_id, connection.event_cursor):
                return 0
        try:
            with self.ctx.db.write() as conn:
                found = store.get_connection(conn, connection.id)
                if found is None or found.paused:
                    return 0
                events = store.events_after(conn, found.channel_id, found.event_cursor, EVENTS_PER_ROUND)
                for event in events:
                    for kind, message_id in calls_for(found, event):
                        assert event.session_id is not None
                        later = now + ATTRIBUTES_DELAY if kind == "attributes" else None
                        store.add_call(conn, found.id, event.session_id, kind, now, message_id, later)
                if events and not store.move_cursor(conn, found.id, found.event_cursor, events[-1].id):
                    raise _Overtaken
        except _Overtaken:
            return 0  # another process took these events: the calls it added stand, ours are rolled back
        return len(events)

    def _start_due(self, connection: ChatwootConnection) -> int:
        now = self.ctx.clock.now()
        with self._lock:
            busy = {cid for cid, (conn_id, f) in self._flights.items() if not f.done()}
            mine = sum(1 for cid in busy if self._flights[cid][0] == connection.id)
            self._flights = {cid: v for cid, v in self._flights.items() if cid in busy}
        room = PER_CONNECTION - mine
        if room <= 0:
            return 0
        with self.ctx.db.read() as conn:
            due = [c for c in store.due_calls(conn, connection.id, now, CALLS_PER_ROUND) if c.id not in busy]
            secrets = store.secrets_of(conn, self.ctx.box, connection.id) if due else None
        if secrets is None:
            return 0
        started = 0
        for call in due[:room]:
            future = self._pool.submit(self._run_call, connection, secrets, call)
            with self._lock:
                self._flights[call.id] = (connection.id, future)
            if self.on_done is not None:
                future.add_done_callback(lambda _f: self.on_done() if self.on_done else None)
            started += 1
        return started

    def recover_stuck(self) -> int:
        """Notes left `sending` by a dead process may have been added: unknown, never added again."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            return store.recover_sending(conn, now - STUCK_AFTER, now)

    # -- one call ----------------------------------------------------------------------------------

    def _run_call(self, connection: ChatwootConnection, secrets: ConnectionSecrets, call: Call) -> None:
        client = self.client(connection, secrets)
        try:
            if call.kind == "resolve":
                outcome = self._resolve(connection, client, call)
            elif call.kind == "attributes":
                outcome = self._attributes(connection, client, call)
            else:
                outcome = self._note(connection, client, call)
        except Exception as exc:  # every outcome is recorded; nothing escapes the pool
            log.exception("chatwoot call %s failed unexpectedly", call.id)
            outcome = ("retry", f"{type(exc).__name__}: {exc}")
        self._record(connection, call, outcome)

    def _record(self, connection: ChatwootConnection, call: Call, outcome: tuple[str, str | None]) -> None:
        state, error = outcome
        now = self.ctx.clock.now()
        with self.ctx.db.write() as conn:
            if state == "wait":
                store.retry_call(conn, call.id, now + timedelta(seconds=WAIT_STEP), error or "waiting", count=False)
                return
            if state == "retry" and call.attempts + 1 < MAX_ATTEMPTS:
                store.retry_call(conn, call.id, now + timedelta(seconds=backoff(call.attempts + 1)), error or "")
            else:
                store.finish_call(conn, call.id, "failed" if state == "retry" else state, now, error)
            shown = error if state != "done" else None
            if self._shown_error.get(connection.id, "") != shown:  # one write per change, not per call
                store.record_error(conn, connection.id, shown, now)
                self._shown_error[connection.id] = shown
        metrics.chatwoot_call(call.kind, "retry" if state == "retry" else state)

    def _conversation(self, connection: ChatwootConnection, client: ChatwootClient, session_id: int) -> int | None:
        with self.ctx.db.read() as conn:
            session = session_store.get(conn, session_id)
            contact = contact_store.get(conn, session.contact_id) if session else None
        if contact is None:
            return None
        ids = [i for i in (contact.wa_id, contact.user_id) if i]
        return conversations.conversation_for(self.ctx.db, connection, client, ids, self.ctx.clock.now())

    def _resolve(self, connection: ChatwootConnection, client: ChatwootClient, call: Call) -> tuple[str, str | None]:
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:
            closing = store.pending_closing(conn, call.session_id)
            session = session_store.get(conn, call.session_id)
        if session is None or session.active:
            return "done", None  # reopened meanwhile: nothing to resolve
        if closing and session.closed_at is not None and now - session.closed_at < CLOSING_WAIT:
            return "wait", "waiting for the closing message"
        return self._repeatable(connection, client, call, lambda c: client.toggle_status(c, "resolved"))

    def _attributes(self, connection: ChatwootConnection, client: ChatwootClient, call: Call) -> tuple[str, str | None]:
        with self.ctx.db.read() as conn:
            session = session_store.get(conn, call.session_id)
        if session is None:
            return "done", None
        reminder = session.reminder_due_at if session.reminder_state == ReminderState.PENDING else None
        ours = cw.attributes(
            window_closes_at=session.window_closes_at,
            closes_at=session.closes_at if session.active else None,
            next_reminder_at=reminder if session.active else None,
        )

        def merge(conversation: int) -> None:
            # Chatwoot replaces the whole hash: keep what agents or other integrations set.
            current = client.conversation(conversation).get("custom_attributes") or {}
            client.set_custom_attributes(conversation, {**(current if isinstance(current, dict) else {}), **ours})

        return self._repeatable(connection, client, call, merge)

    def _repeatable(
        self, connection: ChatwootConnection, client: ChatwootClient, call: Call, act: Callable[[int], object]
    ) -> tuple[str, str | None]:
        """`act` on the session's conversation: a call safe to repeat, so any failure but a refusal retries."""
        try:
            conversation = self._conversation(connection, client, call.session_id)
            if conversation is None:
                return "retry", "Chatwoot has no conversation for this contact in the inbox (yet)"
            act(conversation)
        except Refused as exc:
            return "failed", str(exc)
        except ChatwootError as exc:
            return "retry", str(exc)
        return "done", None

    def _note(self, connection: ChatwootConnection, client: ChatwootClient, call: Call) -> tuple[str, str | None]:
        """With `send_via=direct`: a private note saying what wasession sent, once it is known."""
        with self.ctx.db.read() as conn:
            message = message_store.get(conn, call.message_id) if call.message_id else None
        if message is None:
            return "done", None
        if message.status not in _FINAL:
            return "wait", "waiting for the send's outcome"
        what = "reminder" if message.kind == "reminder" else "closing message"
        if message.status in ("failed", "skipped"):
            text = f"wasession's {what} was not sent ({message.status}): {message.body or ''}"
        elif message.status == "unknown":
            text = f"wasession's {what} may have been sent (its outcome is unknown): {message.body or ''}"
        else:
            text = f"wasession sent the {what} to WhatsApp: {message.body or ''}"
        try:
            conversation = self._conversation(connection, client, call.session_id)
        except ChatwootError as exc:
            return "retry", str(exc)
        if conversation is None:
            return "retry", "Chatwoot has no conversation for this contact in the inbox (yet)"
        with self.ctx.db.write() as conn:
            if not store.mark_sending(conn, call.id, self.ctx.clock.now()):
                return "done", None  # another process took it
        try:
            client.create_message(
                conversation, text[:4000], private=True, content_attributes={cw.OWN_MARK: call.message_id}
            )
        except NotSent as exc:
            with self.ctx.db.write() as conn:
                store.unmark_sending(conn, call.id)
            return "retry", str(exc)
        except Refused as exc:
            return "failed", str(exc)
        except MaybeSent as exc:
            return "unknown", str(exc)
        return "done", None


class ChatwootSend(CloudClient):
    """The Graph client's two sends, made instead as outgoing messages of the contact's Chatwoot
    conversation, for a channel whose connection sends via Chatwoot. Errors are the outbox's own:
    not sent (retried), outcome unknown (never repeated), refused (failed)."""

    def __init__(self, sync: ChatwootSync, connection: ChatwootConnection) -> None:
        self.sync = sync
        self.connection = connection

    @property
    def wire(self) -> None:  # its calls are blocking ones (outbound/http.py): the sender runs them in a thread
        return None

    def _create(
        self, to: str | None, recipient: str | None, content: str, callback: str | None, template: dict[str, object]
    ) -> SendResult:
        with self.sync.ctx.db.read() as conn:
            secrets = store.secrets_of(conn, self.sync.ctx.box, self.connection.id)
        client = self.sync.client(self.connection, secrets)
        try:
            conversation = conversations.conversation_for(
                self.sync.ctx.db, self.connection, client, [i for i in (to, recipient) if i], self.sync.ctx.clock.now()
            )
        except ChatwootError as exc:  # only reads so far: nothing was created
            raise RequestNotSentError(None, exc.status, description=f"Chatwoot: {exc}") from exc
        if conversation is None:
            raise RequestNotSentError(None, description="Chatwoot has no conversation for this contact (yet)")
        try:
            made = client.create_message(
                conversation, content, content_attributes={cw.OWN_MARK: callback}, template_params=template or None
            )
        except NotSent as exc:
            raise RequestNotSentError(None, exc.status, description=f"Chatwoot: {exc}") from exc
        except MaybeSent as exc:
            raise OutcomeUnknownError(f"Chatwoot: {exc}") from exc
        except Refused as exc:
            raise CloudApiError(None, exc.status, description=f"Chatwoot refused the message: {exc}") from exc
        metrics.chatwoot_call("message", "done")
        return SendResult(cw.placeholder_wamid(self.connection.id, made.get("id")), to, recipient, None)

    def send_text(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        to: str | None = None,
        recipient: str | None = None,
        body: str,
        callback_data: str | None = None,
        **_: object,
    ) -> SendResult:
        return self._create(to, recipient, body, callback_data, {})

    def send_template(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        to: str | None = None,
        recipient: str | None = None,
        name: str,
        language: str,
        body_parameters: Sequence[str] | Mapping[str, str] = (),
        callback_data: str | None = None,
    ) -> SendResult:
        values = list(body_parameters.values()) if isinstance(body_parameters, Mapping) else list(body_parameters)
        # Chatwoot's WhatsApp template payload (messages create-new-message, `template_params`).
        template: dict[str, object] = {
            "name": name,
            "language": language,
            "processed_params": {"body": {str(i + 1): v for i, v in enumerate(values)}},
        }
        content = f"[template {name}]" + (": " + ", ".join(values) if values else "")
        return self._create(to, recipient, content, callback_data, template)

"""Chatwoot connections (issue 22): set up, pause, remove, and what Chatwoot's account webhooks tell us.

One connection per channel ties it to one Chatwoot account and WhatsApp inbox. `connect` asks Chatwoot
first (the URL answers, the token is a user's, the user is in the account, the inbox exists and is a
WhatsApp one) so a mistake is named at once, in one line. The CLI, the API and the dashboard call
these functions and nothing else.

Chatwoot → wasession (`handle_webhook`): an agent's public outgoing message is the agent's message on
the session through `transitions.agent_wrote`, the transition the API's agent send uses; a resolved,
snoozed or reopened conversation closes, snoozes or wakes the session through `transitions.closed`,
`snoozed` and `woke`. What goes the other way is the engine's (engine/chatwoot_sync.py).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wasession.chatwoot import conversations
from wasession.chatwoot.client import ChatwootClient, ChatwootError, NotSent, Refused
from wasession.domain import chatwoot as cw
from wasession.domain import transitions
from wasession.domain.events import EventType
from wasession.domain.plan import is_snoozed
from wasession.domain.reopen import ReopenedBy
from wasession.domain.states import CloseReason, Direction, MessageKind, MessageStatus
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.lifecycle.reopen import reopen_session
from wasession.outbound.addresses import AddressPolicy
from wasession.services import channels as channel_service
from wasession.services.errors import ConflictError, NotFoundError, ValidationError
from wasession.services.event_webhooks import clean_secret, clean_url
from wasession.store import channels as channel_store
from wasession.store import chatwoot as store
from wasession.store import contacts as contact_store
from wasession.store import messages as message_store
from wasession.store import sessions as session_store
from wasession.store.chatwoot import Call as Call  # re-exported for the faces
from wasession.store.chatwoot import ChatwootConnection as ChatwootConnection

log = logging.getLogger(__name__)

SEND_VIA = ("chatwoot", "direct")
MAX_TOKEN = 200
MAX_BODY = 1024 * 1024  # a message webhook carries the conversation; a megabyte is far beyond any
OWN_SENT_POLLS, OWN_SENT_POLL_SECONDS = 20, 0.1


class WebhookRefused(Exception):
    """A Chatwoot webhook that is not Chatwoot's (401): nothing was read or changed."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Connected:
    connection: ChatwootConnection
    webhook_path: str  # what to paste into Chatwoot, after this server's public base URL
    relay_target: str  # Chatwoot's own WhatsApp webhook route, for `wasession forwards add`


def webhook_path(connection_id: int) -> str:
    return f"/chatwoot/{connection_id}/webhook"


def relay_target(url: str, phone_number: str) -> str:
    """Chatwoot's WhatsApp Cloud inbox route (`/webhooks/whatsapp/:phone_number`) for this number."""
    return f"{url.rstrip('/')}/webhooks/whatsapp/+{phone_number.lstrip('+')}"


def _client(connection: ChatwootConnection, token: str, policy: AddressPolicy) -> ChatwootClient:
    return ChatwootClient(connection.url, token, connection.account_id, policy)


def _positive(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise ValidationError(name, f"{name} must be a whole number of 1 or more (Chatwoot's id); got {value!r}")
    return value


def _send_via(value: str) -> str:
    if value not in SEND_VIA:
        raise ValidationError("send_via", f"send_via must be chatwoot or direct; got {value!r}")
    return value


def check_chatwoot(client: ChatwootClient, inbox_id: int) -> str:
    """Ask Chatwoot whether the URL, token, account and inbox are right; the inbox's phone number, or a
    ValidationError naming the setting that is wrong and how to fix it."""
    try:
        profile = client.profile()
    except Refused as exc:
        if exc.status == 401:
            raise ValidationError(
                "api_token", "Chatwoot refused the API token: copy an agent's access token from its Profile settings"
            ) from exc
        raise ValidationError("url", f"{client.base_url} does not look like Chatwoot ({exc})") from exc
    except ChatwootError as exc:
        raise ValidationError("url", f"Chatwoot did not answer at {client.base_url}: {exc}") from exc
    accounts = [a.get("id") for a in profile.get("accounts") or [] if isinstance(a, dict)]
    if client.account_id not in accounts:
        shown = ", ".join(str(a) for a in accounts) or "none"
        raise ValidationError(
            "account_id", f"the token's user is not in Chatwoot account {client.account_id}; its accounts: {shown}"
        )
    try:
        inbox = client.inbox(inbox_id)
    except Refused as exc:
        raise ValidationError(
            "inbox_id", f"Chatwoot account {client.account_id} has no inbox {inbox_id} this token can see"
        ) from exc
    except ChatwootError as exc:
        raise ValidationError("url", f"Chatwoot did not answer at {client.base_url}: {exc}") from exc
    if inbox.get("channel_type") != "Channel::Whatsapp":
        raise ValidationError(
            "inbox_id", f"inbox {inbox_id} is a {inbox.get('channel_type')} inbox; choose the WhatsApp inbox"
        )
    return str(inbox.get("phone_number") or "")


def connect(
    ctx: ServiceContext,
    channel_id: int,
    *,
    workspace_id: int,
    url: str,
    account_id: int,
    inbox_id: int,
    api_token: str,
    webhook_secret: str | None = None,
    send_via: str = "chatwoot",
    policy: AddressPolicy | None = None,
) -> Connected:
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=workspace_id)
    policy = policy or AddressPolicy()
    url = clean_url(url, policy).rstrip("/")
    account_id, inbox_id = _positive("account_id", account_id), _positive("inbox_id", inbox_id)
    token = api_token.strip()
    if not token or len(token) > MAX_TOKEN:
        raise ValidationError("api_token", f"api_token must be Chatwoot's access token (1-{MAX_TOKEN} characters)")
    secret = clean_secret(webhook_secret) if webhook_secret else None
    send_via = _send_via(send_via)
    with ctx.db.read() as conn:
        if store.of_channel(conn, channel.id) is not None:
            raise ConflictError(
                f"channel {channel.id} is already connected to Chatwoot; remove that connection first", "exists"
            )
    phone = check_chatwoot(ChatwootClient(url, token, account_id, policy), inbox_id)
    with ctx.db.write() as conn:
        connection_id = store.insert_connection(
            conn,
            ctx.box,
            workspace_id=workspace_id,
            channel_id=channel.id,
            url=url,
            account_id=account_id,
            inbox_id=inbox_id,
            inbox_phone=phone or channel.display_phone_number,
            api_token=token,
            webhook_secret=secret,
            send_via=send_via,
            now=ctx.clock.now(),
        )
        created = store.get_connection(conn, connection_id)
    assert created is not None
    ctx.wake()
    return Connected(created, webhook_path(created.id), relay_target(url, created.inbox_phone))


def list_connections(ctx: ServiceContext, *, workspace_id: int | None) -> list[ChatwootConnection]:
    """The workspace's connections; None (the operator's CLI): every workspace's."""
    with ctx.db.read() as conn:
        return store.in_workspace(conn, workspace_id)


def get_connection(ctx: ServiceContext, connection_id: int, *, workspace_id: int | None) -> ChatwootConnection:
    with ctx.db.read() as conn:
        found = store.get_connection(conn, connection_id)
    if found is None or (workspace_id is not None and found.workspace_id != workspace_id):
        raise NotFoundError("chatwoot connection", connection_id)
    return found


def connection_status(
    ctx: ServiceContext, connection_id: int, *, workspace_id: int | None
) -> tuple[dict[str, int], list[Call]]:
    """Its calls by state, and the latest ones (what the dashboard and `show` print)."""
    get_connection(ctx, connection_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        return store.call_counts(conn, connection_id), store.calls_of(conn, connection_id, limit=10)


def set_paused(
    ctx: ServiceContext, connection_id: int, *, workspace_id: int | None, paused: bool
) -> ChatwootConnection:
    """Paused, nothing goes either way; resuming takes up the events recorded meanwhile, and the resolves
    and attribute updates that had failed (Chatwoot down past the retries, a refusal since fixed)."""
    get_connection(ctx, connection_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        store.update_connection(conn, connection_id, paused=paused)
        if not paused:
            store.retry_failed(conn, connection_id)
        changed = store.get_connection(conn, connection_id)
    if not paused:
        ctx.wake()
    assert changed is not None
    return changed


def remove(ctx: ServiceContext, connection_id: int, *, workspace_id: int | None) -> None:
    get_connection(ctx, connection_id, workspace_id=workspace_id)
    with ctx.db.write() as conn:
        store.delete_connection(conn, connection_id)


def relay_target_of(connection: ChatwootConnection) -> str:
    return relay_target(connection.url, connection.inbox_phone)


# -- Chatwoot → wasession ---------------------------------------------------------------------------


def handle_webhook(
    ctx: ServiceContext,
    connection_id: int,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: AddressPolicy | None = None,
) -> dict[str, Any]:
    """Verify and apply one account webhook; what it did (`applied`, `duplicate` or `ignored`, and why).

    Raises NotFoundError for an unknown connection and WebhookRefused for a body that is not Chatwoot's
    (a bad or missing signature, a stale timestamp): nothing is read from it and nothing changes."""
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        connection = store.get_connection(conn, connection_id)
        secrets = store.secrets_of(conn, ctx.box, connection_id) if connection else None
    if connection is None or secrets is None:
        raise NotFoundError("chatwoot connection", connection_id)
    lowered = {k.lower(): v for k, v in headers.items()}
    if secrets.webhook_secret is not None:
        problem = cw.signature_problem(
            secrets.webhook_secret,
            body,
            lowered.get(cw.SIGNATURE_HEADER.lower()),
            lowered.get(cw.TIMESTAMP_HEADER.lower()),
            now,
        )
        if problem is not None:
            log.warning("chatwoot webhook refused", extra={"connection_id": connection_id, "reason": problem})
            raise WebhookRefused(problem)
    else:
        log.warning(
            "UNSIGNED Chatwoot webhook accepted: connection %s has no webhook secret, so anyone who can reach "
            "this URL can close and snooze its sessions; set one with `wasession chatwoot connect … "
            "--webhook-secret` (Chatwoot 4.11.2 or later signs its webhooks)",
            connection_id,
        )
    if connection.paused:
        return {"result": "ignored", "reason": "the connection is paused"}
    if len(body) > MAX_BODY:
        return {"result": "ignored", "reason": "body too large"}
    try:
        payload = json.loads(body)
    except ValueError:
        return {"result": "ignored", "reason": "not JSON"}
    delivery = lowered.get(cw.DELIVERY_HEADER.lower())
    if delivery:
        with ctx.db.write() as conn:
            if not store.first_sight(conn, connection.id, f"delivery:{delivery}", now):
                return {"result": "duplicate", "reason": "this delivery was already taken"}
    update = cw.chatwoot_update(payload)
    return _apply(ctx, connection, secrets.api_token, update, now, policy or AddressPolicy())


def _apply(
    ctx: ServiceContext,
    connection: ChatwootConnection,
    token: str,
    update: cw.Update,
    now: datetime,
    policy: AddressPolicy,
) -> dict[str, Any]:
    if update.kind is cw.Kind.IGNORED:
        return {"result": "ignored", "reason": update.why_ignored}
    if update.account_id not in (None, connection.account_id) or update.inbox_id not in (None, connection.inbox_id):
        return {"result": "ignored", "reason": "another Chatwoot account or inbox"}
    if update.conversation_id is None:
        return {"result": "ignored", "reason": "no conversation id"}
    source = update.source_id
    if source is not None:
        with ctx.db.write() as conn:
            store.remember_conversation(conn, connection.id, update.conversation_id, source, update.status, now)
    if update.kind is cw.Kind.MAPPING:
        return {"result": "ignored", "reason": update.why_ignored or "mapping learnt"}
    if update.kind is cw.Kind.OWN_SENT:
        return _own_sent(ctx, connection, update)
    if source is None:
        try:
            source = conversations.source_for(
                ctx.db, connection, _client(connection, token, policy), update.conversation_id, now
            )
        except ChatwootError as exc:
            raise NotSentUpstream(f"the conversation's contact could not be read from Chatwoot: {exc}") from exc
        if source is None:
            return {"result": "ignored", "reason": "the conversation is not in this inbox"}
    if update.kind is cw.Kind.AGENT_MESSAGE:
        return _agent_message(ctx, connection, update, source, now)
    return _status(ctx, connection, update, source, now)


class NotSentUpstream(Exception):
    """Chatwoot's API was needed to make sense of a webhook and did not answer: 503, Chatwoot may retry."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _session_of(conn: Any, connection: ChatwootConnection, source: str) -> Any:
    wa_id = source if source.isdigit() else None
    contact = contact_store.find(conn, connection.workspace_id, wa_id=wa_id, user_id=None if wa_id else source)
    if contact is None:
        return None
    session = session_store.active_for(conn, connection.channel_id, contact.id) or session_store.latest_for(
        conn, connection.channel_id, contact.id
    )
    return session_store.get(conn, session.id, for_update=True) if session else None


def _agent_message(
    ctx: ServiceContext, connection: ChatwootConnection, update: cw.Update, source: str, now: datetime
) -> dict[str, Any]:
    """R8/R18: the agent's message never moves T; it is the customer's turn now. Stored once per id."""
    if update.message_id is None:
        return {"result": "ignored", "reason": "no message id"}
    at = min(update.at or now, now)
    with ctx.db.write() as conn:
        session = _session_of(conn, connection, source)
        channel = channel_store.get(conn, connection.channel_id)
        if session is None or channel is None:
            return {"result": "ignored", "reason": "no session for this contact"}
        if not store.first_sight(conn, connection.id, f"message:{update.message_id}", now):
            return {"result": "duplicate", "reason": "this message was already taken"}
        closed_before = session.closed_at is not None and session.closed_at < at
        if not session.active and closed_before and at < session.window_closes_at:
            # As an agent's reply through the API does (R13): inside the window it reopens the session.
            reopen_session(conn, channel, session, now=at, by=ReopenedBy.AGENT)
            session = session_store.get(conn, session.id, for_update=True)
        message_id = message_store.insert_message(
            conn,
            session_id=session.id,
            channel_id=channel.id,
            direction=Direction.OUT,
            kind=MessageKind.AGENT,
            type="text",
            body=update.content,
            sent_at=at,
            created_at=now,
            status=MessageStatus.SENT,  # Chatwoot sends it; the outbox never picks it up
            status_at=now,
            callback_data=f"chatwoot:{connection.id}:{update.message_id}",
        )
        if session.active:
            session_writes.apply(
                conn, channel, session.id, transitions.agent_wrote(session_writes.state_of(session), at, channel.policy)
            )
            session_writes.record(
                conn,
                channel,
                session.id,
                EventType.AGENT_MESSAGE,
                now,
                message_id=message_id,
                source="chatwoot",
                chatwoot_message_id=update.message_id,
            )
    ctx.wake()
    return {"result": "applied", "session_id": session.id, "message_id": message_id}


def _own_sent(ctx: ServiceContext, connection: ChatwootConnection, update: cw.Update) -> dict[str, Any]:
    """Chatwoot sent our reminder or closing message to WhatsApp: the message takes its real wamid, so
    Meta's statuses (which reach wasession itself) move it to delivered and read (R15)."""
    if update.wamid is None or update.message_id is None:
        return {"result": "ignored", "reason": "not sent to WhatsApp yet"}
    placeholder = cw.placeholder_wamid(connection.id, update.message_id)
    # Chatwoot may report the send before our sender has recorded Chatwoot's answer (its job can be that
    # quick): give the sender a moment rather than lose the wamid.
    for _ in range(OWN_SENT_POLLS):
        with ctx.db.write() as conn:
            ours = message_store.by_wamid(conn, connection.channel_id, placeholder)
            if ours is not None:
                message_store.update_message(conn, ours.id, wamid=update.wamid)
                return {"result": "applied", "message_id": ours.id}
        time.sleep(OWN_SENT_POLL_SECONDS)
    return {"result": "ignored", "reason": "no message of ours has that Chatwoot id (or it has its wamid)"}


def _status(
    ctx: ServiceContext, connection: ChatwootConnection, update: cw.Update, source: str, now: datetime
) -> dict[str, Any]:
    with ctx.db.write() as conn:
        session = _session_of(conn, connection, source)
        channel = channel_store.get(conn, connection.channel_id)
        if session is None or channel is None:
            return {"result": "ignored", "reason": "no session for this contact"}
        action = cw.status_action(
            update.status,
            active=session.active,
            snoozed=is_snoozed(session.snoozed_until, now),
            changed_at=update.at,
            last_customer_at=session.last_customer_at,
        )
        state = session_writes.state_of(session)
        if action is cw.StatusAction.CLOSE:
            change = transitions.closed(state, now=now, reason=CloseReason.CLOSED_IN_CHATWOOT)
        elif action is cw.StatusAction.SNOOZE:
            until = cw.snooze_end(update.snoozed_until, now)
            change = transitions.snoozed(state, until=until, policy=channel.policy, now=now)
        elif action is cw.StatusAction.WAKE:
            change = transitions.woke(state, policy=channel.policy, now=now, early=True)
        else:
            return {"result": "ignored", "reason": f"the session already agrees with {update.status!r}"}
        session_writes.apply(conn, channel, session.id, change)
    ctx.wake()
    return {"result": "applied", "session_id": session.id, "action": str(action)}


__all__ = [
    "SEND_VIA",
    "Call",
    "ChatwootConnection",
    "Connected",
    "NotSent",
    "NotSentUpstream",
    "WebhookRefused",
    "connect",
    "connection_status",
    "get_connection",
    "handle_webhook",
    "list_connections",
    "relay_target_of",
    "remove",
    "set_paused",
]

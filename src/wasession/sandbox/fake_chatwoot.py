"""A fake Chatwoot, faithful where wasession's Chatwoot connection depends on it (issue 22).

Read from Chatwoot's source (github chatwoot/chatwoot) and reproduced here:
- auth: the `api_access_token` header (`app/controllers/api/base_controller.rb`,
  `app/controllers/concerns/access_token_auth_helper.rb`): a missing or unknown token answers
  401 `{"error": "Invalid Access Token"}`; an account the token's user is not in answers 401
  `{"error": "You are not authorized to access this account"}`; a record that does not exist answers
  404 `{"error": "Resource could not be found"}` (`app/controllers/concerns/request_exception_handler.rb`);
- `GET /api/v1/profile` (the user and its `accounts`), `GET …/inboxes/{id}`,
  `GET …/contacts/search?q=` (`{"meta", "payload"}` with each contact's `contact_inboxes`),
  `GET …/contacts/{id}/conversations`, `GET …/conversations/{display_id}` (the conversation's push data:
  `app/presenters/conversations/event_data_presenter.rb`), `POST …/conversations/{id}/messages`
  (`content`, `message_type`, `private`, `content_attributes`, `template_params`),
  `POST …/conversations/{id}/toggle_status` (`status`, `snoozed_until`; the answer's
  `payload.current_status` — `conversations_controller.rb#toggle_status`) and
  `POST …/conversations/{id}/custom_attributes` (`ConversationCustomAttributesConcern`);
- account webhooks (`app/listeners/webhook_listener.rb`): `message_created`, `conversation_created`,
  `conversation_status_changed` and `conversation_updated` (with `changed_attributes`), each the
  object's webhook data plus `event`, POSTed in order and signed as `lib/webhooks/trigger.rb` signs them
  (v4.11.2+): `X-Chatwoot-Signature: sha256=HMAC(secret, "<ts>.<body>")`, `X-Chatwoot-Timestamp`,
  `X-Chatwoot-Delivery`. Private notes go out too (`message_created` with `private: true`), as
  `Message#webhook_sendable?` allows every incoming, outgoing and template message;
- its WhatsApp Cloud inbox route `POST /webhooks/whatsapp/{phone_number}`
  (`app/controllers/webhooks/whatsapp_controller.rb`): since PR #14280 it checks `X-Hub-Signature-256`
  against the app secret (401 when missing or wrong); a customer's message finds or creates the contact
  (`source_id` = the wa_id, or the BSUID), reopens a resolved or snoozed conversation and is stored
  incoming.

Faults for tests: `fail_with` (every API call answers that status), `hang_for` (every API call waits that
long first). `agent_reply` and `set_status` do what an agent does in Chatwoot's UI.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wasession.domain.chatwoot import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from wasession.whatsapp.signature import SIGNATURE_HEADER as META_SIGNATURE_HEADER
from wasession.whatsapp.signature import signature_matches

__all__ = ["FakeChatwoot", "FakeConversation", "FakeMessage"]

INVALID_TOKEN = {"error": "Invalid Access Token"}
NOT_IN_ACCOUNT = {"error": "You are not authorized to access this account"}
NOT_FOUND = {"error": "Resource could not be found"}
STATUSES = ("open", "resolved", "pending", "snoozed")
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


@dataclass
class FakeMessage:
    id: int
    conversation_id: int  # the display id
    content: str
    message_type: str
    private: bool
    sender: dict[str, Any]
    created_at: float
    content_attributes: dict[str, Any] = field(default_factory=dict)
    template_params: dict[str, Any] | None = None
    source_id: str | None = None


@dataclass
class FakeConversation:
    id: int  # the display id, what the API and webhooks call `id`
    account_id: int
    inbox_id: int
    contact_id: int
    source_id: str
    status: str = "open"
    snoozed_until: float | None = None
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    messages: list[FakeMessage] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0


class FakeChatwoot:
    def __init__(
        self,
        *,
        account_id: int = 1,
        inbox_id: int = 1,
        phone_number: str = "+15550001111",
        now: Callable[[], float] = time.time,
        token: str | None = None,
    ) -> None:
        self.now = now  # unix seconds: the Simulator's manual clock in tests, so timestamps stay fresh
        self.lock = threading.RLock()
        self.token = token or "cw-" + secrets.token_hex(12)
        self.user = {"id": 1, "name": "Agent Ada", "email": "ada@example.com", "type": "user"}
        self.accounts = {account_id: {"id": account_id, "name": "Acme"}}
        self.account_id = account_id
        self.inboxes: dict[int, dict[str, Any]] = {
            inbox_id: {
                "id": inbox_id,
                "account_id": account_id,
                "name": "WhatsApp",
                "channel_type": "Channel::Whatsapp",
                "phone_number": phone_number,
                "provider": "whatsapp_cloud",
            }
        }
        self.inbox_id = inbox_id
        self.app_secret: str | None = None  # WHATSAPP_APP_SECRET for the WhatsApp inbox route
        self.contacts: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, FakeConversation] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.hang_for = 0.0
        self.calls: list[tuple[str, str, Any]] = []  # (method, path, json body) of every API call
        self.call_times: list[float] = []  # when each of `calls` arrived, on `now`
        self._ids = itertools.count(1)
        self._deliveries: queue.Queue[tuple[str, str | None, bytes] | None] = queue.Queue()
        self._pending = 0
        self._sent = threading.Condition(self.lock)
        self.delivered: list[tuple[int, dict[str, Any]]] = []  # (status, payload) of each webhook POST
        self._worker = threading.Thread(target=self._deliver_loop, daemon=True, name="fake-chatwoot-webhooks")
        self._worker.start()
        account = "/api/v1/accounts/{account_id:int}"
        conversation = account + "/conversations/{conversation_id:int}"
        self.app = Starlette(
            routes=[
                Route("/api/v1/profile", self._profile, methods=["GET"]),
                Route(account + "/inboxes/{inbox_id:int}", self._inbox, methods=["GET"]),
                Route(account + "/contacts/search", self._contact_search, methods=["GET"]),
                Route(account + "/contacts/{contact_id:int}/conversations", self._contact_conversations),
                Route(conversation, self._conversation, methods=["GET"]),
                Route(conversation + "/messages", self._create_message, methods=["POST"]),
                Route(conversation + "/toggle_status", self._toggle_status, methods=["POST"]),
                Route(conversation + "/custom_attributes", self._custom_attributes, methods=["POST"]),
                Route("/webhooks/whatsapp/{phone_number}", self._whatsapp, methods=["POST"]),
            ]
        )

    # -- what a test or the sandbox sets up --------------------------------------------------------

    def add_webhook(self, url: str, secret: str | None, subscriptions: tuple[str, ...] | None = None) -> None:
        """An account webhook (Settings → Integrations → Webhooks); `secret` None: an unsigned one, as
        before v4.11.2."""
        events = subscriptions or (
            "conversation_created",
            "conversation_status_changed",
            "conversation_updated",
            "message_created",
            "message_updated",
        )
        with self.lock:
            self.webhooks.append({"url": url, "secret": secret, "subscriptions": events})

    def customer_message(self, source_id: str, text: str, *, name: str = "Ada") -> FakeConversation:
        """A customer's message arriving in the WhatsApp inbox, as its webhook route stores one."""
        with self.lock:
            contact = self._contact_for(source_id, name)
            conv = self._open_conversation(contact, source_id)
            msg = self._add_message(conv, text, "incoming", False, {"id": contact["id"], "type": "contact"})
            if conv.status in ("resolved", "snoozed"):
                self._set_status(conv, "open", None)
            self._emit_message(conv, msg)
            return conv

    def agent_reply(self, conversation_id: int, text: str, *, private: bool = False) -> FakeMessage:
        """An agent typing in the conversation (the dashboard posts the same route the API has)."""
        with self.lock:
            conv = self.conversations[conversation_id]
            msg = self._add_message(conv, text, "outgoing", private, dict(self.user))
            self._emit_message(conv, msg)
            return msg

    def set_status(self, conversation_id: int, status: str, snoozed_until: datetime | None = None) -> None:
        with self.lock:
            until = snoozed_until.timestamp() if snoozed_until else None
            self._set_status(self.conversations[conversation_id], status, until)

    def conversation_of(self, source_id: str) -> FakeConversation | None:
        with self.lock:
            found = [c for c in self.conversations.values() if c.source_id == source_id]
            return max(found, key=lambda c: c.id) if found else None

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued webhook was POSTed."""
        with self._sent:
            if not self._sent.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError("fake Chatwoot's webhooks were not all delivered")

    def close(self) -> None:
        self._deliveries.put(None)

    # -- state ---------------------------------------------------------------------------------------

    def _contact_for(self, source_id: str, name: str) -> dict[str, Any]:
        for contact in self.contacts.values():
            if any(ci["source_id"] == source_id for ci in contact["contact_inboxes"]):
                return contact
        contact_id = next(self._ids)
        phone = "+" + source_id if source_id.isdigit() else None
        contact = {
            "id": contact_id,
            "name": name,
            "phone_number": phone,
            "identifier": None,
            "email": None,
            "type": "contact",
            "contact_inboxes": [{"source_id": source_id, "inbox": dict(self.inboxes[self.inbox_id])}],
        }
        self.contacts[contact_id] = contact
        return contact

    def _open_conversation(self, contact: dict[str, Any], source_id: str) -> FakeConversation:
        # Chatwoot's WhatsApp inbox keeps one conversation per contact unless "lock to single
        # conversation" is off; a resolved one is reopened by the next incoming message.
        existing = self.conversation_of(source_id)
        if existing is not None:
            return existing
        display_id = len([c for c in self.conversations.values() if c.account_id == self.account_id]) + 1
        conv = FakeConversation(display_id, self.account_id, self.inbox_id, contact["id"], source_id)
        conv.created_at = conv.updated_at = self.now()
        self.conversations[display_id] = conv
        self._emit("conversation_created", self._conversation_data(conv))
        return conv

    def _add_message(
        self,
        conv: FakeConversation,
        content: str,
        message_type: str,
        private: bool,
        sender: dict[str, Any],
        content_attributes: dict[str, Any] | None = None,
        template_params: dict[str, Any] | None = None,
    ) -> FakeMessage:
        msg = FakeMessage(
            next(self._ids),
            conv.id,
            content,
            message_type,
            private,
            sender,
            self.now(),
            dict(content_attributes or {}),
            template_params,
        )
        conv.messages.append(msg)
        conv.updated_at = msg.created_at
        return msg

    def _set_status(self, conv: FakeConversation, status: str, snoozed_until: float | None) -> None:
        before = conv.status
        conv.status = status
        conv.snoozed_until = snoozed_until if status == "snoozed" else None
        conv.updated_at = self.now()
        data = self._conversation_data(conv)
        changed = [{"status": {"previous_value": before, "current_value": status}}]
        if before != status:
            self._emit("conversation_status_changed", {**data, "changed_attributes": changed})
        self._emit("conversation_updated", {**data, "changed_attributes": changed})

    # -- payload shapes ---------------------------------------------------------------------------

    def _contact_data(self, contact: dict[str, Any]) -> dict[str, Any]:
        return {k: contact[k] for k in ("id", "name", "phone_number", "identifier", "email", "type")}

    def _conversation_data(self, conv: FakeConversation) -> dict[str, Any]:
        contact = self.contacts[conv.contact_id]
        last = [self._message_data(m, nested=True) for m in conv.messages[-1:]]
        return {
            "additional_attributes": {},
            "can_reply": True,
            "channel": "Channel::Whatsapp",
            "contact_inbox": {"contact_id": contact["id"], "inbox_id": conv.inbox_id, "source_id": conv.source_id},
            "id": conv.id,
            "account_id": conv.account_id,
            "inbox_id": conv.inbox_id,
            "messages": last,
            "labels": [],
            "meta": {"sender": self._contact_data(contact), "assignee": None, "team": None},
            "status": conv.status,
            "custom_attributes": dict(conv.custom_attributes),
            "snoozed_until": conv.snoozed_until,
            "unread_count": 0,
            "timestamp": int(conv.updated_at),
            "created_at": int(conv.created_at),
            "updated_at": conv.updated_at,
        }

    def _message_data(self, msg: FakeMessage, *, nested: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": msg.id,
            "content": msg.content,
            "content_type": "text",
            "content_attributes": dict(msg.content_attributes),
            "message_type": msg.message_type,
            "private": msg.private,
            "source_id": msg.source_id,
            "sender": msg.sender,
            "created_at": datetime.fromtimestamp(msg.created_at, UTC).isoformat().replace("+00:00", "Z"),
            "account": {"id": self.account_id, "name": self.accounts[self.account_id]["name"]},
            "inbox": {"id": self.inbox_id, "name": self.inboxes[self.inbox_id]["name"]},
        }
        if not nested:
            data["conversation"] = self._conversation_data(self.conversations[msg.conversation_id])
        return data

    # -- webhooks ----------------------------------------------------------------------------------

    def _emit_message(self, conv: FakeConversation, msg: FakeMessage) -> None:
        self._emit("message_created", self._message_data(msg))

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        body = json.dumps({**data, "event": event}).encode()
        for hook in self.webhooks:
            if event in hook["subscriptions"]:
                self._pending += 1
                self._deliveries.put((hook["url"], hook["secret"], body))

    def _deliver_loop(self) -> None:
        with httpx.Client(timeout=5.0) as client:  # Webhooks::Trigger's timeout
            while (item := self._deliveries.get()) is not None:
                url, secret, body = item
                headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(uuid.uuid4())}
                if secret is not None:
                    stamp = str(int(self.now()))
                    headers |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}
                try:
                    status = client.post(url, content=body, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0  # Chatwoot logs the failure and moves on
                with self._sent:
                    self.delivered.append((status, json.loads(body)))
                    self._pending -= 1
                    self._sent.notify_all()

    # -- the REST API ------------------------------------------------------------------------------

    async def _guard(self, request: Request, account_id: int | None) -> Response | None:
        body = None
        if request.method == "POST":
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        with self.lock:
            self.calls.append((request.method, request.url.path, body))
            self.call_times.append(self.now())
            hang, fail = self.hang_for, self.fail_with
        if hang:
            await asyncio.sleep(hang)  # a slow Chatwoot holds the connection, as Puma does when saturated
        if fail is not None:
            return JSONResponse({"error": "Internal Server Error"}, status_code=fail)
        if request.headers.get("api_access_token") != self.token:
            return JSONResponse(INVALID_TOKEN, status_code=401)
        if account_id is not None:
            if account_id not in self.accounts:
                return JSONResponse(NOT_FOUND, status_code=404)
            if account_id != self.account_id:
                return JSONResponse(NOT_IN_ACCOUNT, status_code=401)
        return None

    async def _json(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        parsed = json.loads(raw) if raw else {}
        return parsed if isinstance(parsed, dict) else {}

    def _conv(self, request: Request) -> FakeConversation | None:
        conv = self.conversations.get(int(request.path_params["conversation_id"]))
        return conv if conv is not None and conv.account_id == request.path_params["account_id"] else None

    async def _profile(self, request: Request) -> Response:
        if (refused := await self._guard(request, None)) is not None:
            return refused
        accounts = [{**a, "role": "administrator"} for a in self.accounts.values() if a["id"] == self.account_id]
        return JSONResponse({**self.user, "accounts": accounts, "account_id": self.account_id})

    async def _inbox(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        inbox = self.inboxes.get(request.path_params["inbox_id"])
        if inbox is None or inbox["account_id"] != request.path_params["account_id"]:
            return JSONResponse(NOT_FOUND, status_code=404)
        return JSONResponse(inbox)

    async def _contact_search(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        q = request.query_params.get("q", "").lstrip("+")
        if not q:
            return JSONResponse({"error": "Specify search string with parameter q"}, status_code=422)
        with self.lock:
            found = [
                {**self._contact_data(c), "contact_inboxes": c["contact_inboxes"]}
                for c in self.contacts.values()
                if q in (c["phone_number"] or "") or any(q == ci["source_id"] for ci in c["contact_inboxes"])
            ]
        return JSONResponse({"meta": {"count": len(found), "current_page": 1}, "payload": found})

    async def _contact_conversations(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        contact_id = request.path_params["contact_id"]
        with self.lock:
            if contact_id not in self.contacts:
                return JSONResponse(NOT_FOUND, status_code=404)
            found = [self._conversation_data(c) for c in self.conversations.values() if c.contact_id == contact_id]
        return JSONResponse({"payload": found})

    async def _conversation(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        with self.lock:
            conv = self._conv(request)
            return JSONResponse(NOT_FOUND, 404) if conv is None else JSONResponse(self._conversation_data(conv))

    async def _create_message(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        body = await self._json(request)
        with self.lock:
            conv = self._conv(request)
            if conv is None:
                return JSONResponse(NOT_FOUND, status_code=404)
            content = body.get("content")
            template = body.get("template_params")
            if not isinstance(content, str) or (not content and not template):
                return JSONResponse({"error": "Content can't be blank"}, status_code=422)
            kind = body.get("message_type", "outgoing")
            if kind not in ("outgoing", "incoming"):
                return JSONResponse({"error": f"'{kind}' is not a valid message_type"}, status_code=422)
            attributes = body.get("content_attributes")
            msg = self._add_message(
                conv,
                content,
                kind,
                bool(body.get("private")),
                dict(self.user),
                attributes if isinstance(attributes, dict) else None,
                template if isinstance(template, dict) else None,
            )
            self._emit_message(conv, msg)
            if msg.message_type == "outgoing" and not msg.private:
                # Chatwoot's WhatsApp channel sends it (a job) and stores Meta's wamid as `source_id`.
                msg.source_id = "wamid.cw" + secrets.token_hex(12)
                self._emit("message_updated", self._message_data(msg))
            answer = self._message_data(msg, nested=True)
        answer |= {"message_type": MESSAGE_TYPES[msg.message_type], "conversation_id": conv.id}
        return JSONResponse(answer)

    async def _toggle_status(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        body = await self._json(request)
        with self.lock:
            conv = self._conv(request)
            if conv is None:
                return JSONResponse(NOT_FOUND, status_code=404)
            status = body.get("status")
            if status is None:  # Conversation#toggle_status: open <-> resolved
                status = "resolved" if conv.status == "open" else "open"
            if status not in STATUSES:
                return JSONResponse({"error": f"'{status}' is not a valid status"}, status_code=422)
            until = body.get("snoozed_until")
            self._set_status(conv, status, float(until) if isinstance(until, int | float) else None)
            payload = {
                "success": True,
                "conversation_id": conv.id,
                "current_status": conv.status,
                "snoozed_until": conv.snoozed_until,
            }
        return JSONResponse({"meta": {}, "payload": payload})

    async def _custom_attributes(self, request: Request) -> Response:
        if (refused := await self._guard(request, request.path_params["account_id"])) is not None:
            return refused
        body = await self._json(request)
        with self.lock:
            conv = self._conv(request)
            if conv is None:
                return JSONResponse(NOT_FOUND, status_code=404)
            values = body.get("custom_attributes")
            if not isinstance(values, dict):
                return JSONResponse({"error": "param is missing or the value is empty: custom_attributes"}, 422)
            conv.custom_attributes = dict(values)  # Chatwoot replaces the whole hash
            conv.updated_at = self.now()
            self._emit("conversation_updated", self._conversation_data(conv))
            return JSONResponse({"custom_attributes": conv.custom_attributes})

    async def _whatsapp(self, request: Request) -> Response:
        """Meta's webhooks for the inbox, as a relay passes them on: signature checked on the raw bytes."""
        raw = await request.body()
        number = request.path_params["phone_number"]
        inbox = next((i for i in self.inboxes.values() if i["phone_number"].lstrip("+") == number.lstrip("+")), None)
        if inbox is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        if self.app_secret is not None and not signature_matches(
            self.app_secret, raw, request.headers.get(META_SIGNATURE_HEADER)
        ):
            return Response(status_code=401)
        payload = json.loads(raw)
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                names = {
                    c.get("wa_id") or c.get("user_id"): (c.get("profile") or {}).get("name", "")
                    for c in value.get("contacts") or []
                }
                for message in value.get("messages") or []:
                    source = message.get("from") or message.get("from_user_id")
                    text = (message.get("text") or {}).get("body", f"[{message.get('type')}]")
                    if source:
                        self.customer_message(source, text, name=names.get(source) or source)
        return Response(status_code=200)


def main() -> None:
    """`python -m wasession.sandbox.fake_chatwoot PORT TOKEN`: the fake in a process of its own (bench/)."""
    import sys

    with ServedFakeChatwoot(FakeChatwoot(token=sys.argv[2]), port=int(sys.argv[1])):
        threading.Event().wait()


class ServedFakeChatwoot:
    """The fake on a real 127.0.0.1 port, in a thread (tests and `bench/`)."""

    def __init__(self, fake: FakeChatwoot | None = None, port: int = 0) -> None:
        import socket

        import uvicorn

        self.fake = fake or FakeChatwoot()
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(self.fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="fake-chatwoot")

    def __enter__(self) -> ServedFakeChatwoot:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Chatwoot did not start listening")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.fake.close()


if __name__ == "__main__":
    main()

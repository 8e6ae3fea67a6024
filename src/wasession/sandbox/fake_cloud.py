"""A fake of Meta's send endpoint, faithful where the service's behaviour depends on it.

What it reproduces of the Cloud API (docs/decisions/0005-cloud-api-fidelity.md):
- `POST /{version}/{phone-number-id}/messages` with bearer-token auth and Meta's exact success and
  error JSON (401/190 for a bad token, 400/100 for an unknown number or a malformed body); every
  example send request of Meta's OpenAPI specification is accepted (tests/data/meta-openapi), the
  read receipt and typing indicator (`status: "read"`) included;
- the 24-hour window as Meta enforces it: a free-form message to a user who has not written in
  24 hours is *accepted* (200 with a wamid) and fails later, in a `failed` status webhook with
  131047; templates always go through;
- throughput (130429) and pair (131056) rate limits, on the injected clock;
- signed status webhooks (`sent` at once, then `delivered` and `read`) queued on the clock, for
  the caller to deliver when the clock reaches them, with `pricing` on `sent` and `delivered` and,
  inside a free entry point window (`entry_point`), a `conversation` object (docs/rules.md R23).

Time only ever comes from the injected clock, so a test can run a day in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import hmac
import itertools
import json
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wasession.sandbox.bodies import DEFAULT_DISPLAY_PHONE_NUMBER, new_wamid, status_body
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

__all__ = ["AcceptedMessage", "FakeCloudApi", "FakeNumber", "PendingWebhook", "ReadReceipt"]

WINDOW = timedelta(hours=24)
THROUGHPUT_WINDOW = timedelta(seconds=1)
PAIR_WINDOW = timedelta(seconds=6)
DEFAULT_PAIR_BURST = 45
REENGAGEMENT_FAILURE_DELAY = timedelta(seconds=1)
# Meta's pricing docs: a reply to a customer who came from an ad or a Page button opens 72 free hours.
FREE_ENTRY_POINT_WINDOW = timedelta(hours=72)
# Meta's calendar (docs/rules.md R23): service replies and utility templates inside the customer service
# window were free from 2024-11-01 and are billed per message from 2026-10-01 (00:00 UTC, when Meta's
# pricing changes take effect); the free entry point window stays free.
SERVICE_BILLED_FROM = datetime(2026, 10, 1, tzinfo=UTC)
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_LENGTH = 512
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# Message types Meta's send endpoint knows; anything else is a bad request.
SEND_TYPES = frozenset(
    {
        "text",
        "template",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "reaction",
    }
)

TITLES: dict[int, str] = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    4: "API Too Many Calls",
    10: "Permission Denied",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    130472: "User's number is part of an experiment",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message Undeliverable",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}

DETAILS: dict[int, str] = {
    130429: "Cloud API message throughput has been reached.",
    131047: (
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
    ),
    131056: (
        "Message failed to send because there were too many messages sent from this phone number to the "
        "same phone number in a short period of time."
    ),
}


TEMPLATE_PAGE = 2
# The sandbox account's templates, in Graph's shape; one is not approved, so it is never offered.
SAMPLE_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "order_update",
        "language": "pt_BR",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Olá {{1}}, o seu pedido {{2}} saiu para entrega."}],
    },
    {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."}],
    },
    {
        "name": "follow_up",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Still there?"},
            {"type": "BODY", "text": "Hi {{1}}, can we help with anything else?"},
        ],
    },
    {
        "name": "spring_sale",
        "language": "en_US",
        "status": "REJECTED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Sale!"}],
    },
)


class _Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class FakeNumber:
    phone_number_id: str
    access_token: str
    app_secret: str
    webhook_url: str | None = None
    display_phone_number: str = "15550000000"
    verified_name: str = "Sandbox Business"


@dataclass(frozen=True)
class AcceptedMessage:
    phone_number_id: str
    wamid: str
    to: str | None
    recipient: str | None
    type: str
    body: str | None
    template: Mapping[str, Any] | None
    callback_data: str | None
    sent_at: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ReadReceipt:
    phone_number_id: str
    message_id: str
    typing: bool
    at: datetime


@dataclass(frozen=True)
class PendingWebhook:
    due_at: datetime
    phone_number_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Injected:
    code: int
    http_status: int
    title: str
    details: str


class _Refused(Exception):
    def __init__(self, http_status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.http_status = http_status
        self.error = error


@dataclass(frozen=True)
class _Send:
    to: str | None
    recipient: str | None
    user: str
    type: str
    body: str | None
    template: Mapping[str, Any] | None
    callback_data: str | None
    payload: Mapping[str, Any]


class FakeCloudApi:
    def __init__(
        self,
        clock: _Clock,
        *,
        graph_version: str | None = None,
        status_delays: tuple[timedelta, timedelta] | None = (timedelta(seconds=1), timedelta(seconds=5)),
        pair_burst: int = DEFAULT_PAIR_BURST,
    ) -> None:
        """`status_delays` are the delays of `delivered` and `read` after a send. With None no
        receipts (sent, delivered, read) are emitted at all; a send outside the window still
        fails with its 131047 `failed` status, because that is the send's outcome, not a receipt."""
        if status_delays is not None and min(status_delays) < timedelta(0):
            raise ValueError("status delays cannot be negative")
        self.clock = clock
        self.graph_version = graph_version
        self.status_delays = status_delays
        self.pair_burst = pair_burst
        self._lock = threading.Lock()
        self._numbers: dict[str, FakeNumber] = {}
        self._accepted: list[AcceptedMessage] = []
        self._receipts: list[ReadReceipt] = []
        self._inbound: dict[tuple[str, str], datetime] = {}
        self._failures: deque[_Injected] = deque()
        self._latency = 0.0
        self._rate_limits: dict[str, int] = {}
        self._recent_sends: dict[str, deque[datetime]] = {}
        self._recent_pair_sends: dict[tuple[str, str], deque[datetime]] = {}
        self._queue: list[tuple[datetime, int, PendingWebhook]] = []
        self._entry_points: dict[tuple[str, str], timedelta] = {}  # armed, opened by the next reply
        self._free_windows: dict[tuple[str, str], tuple[str, datetime]] = {}  # conversation id, expiry
        self._pricing_overrides: dict[tuple[str, str], dict[str, Any]] = {}
        self._templates: list[dict[str, Any]] = [dict(t) for t in SAMPLE_TEMPLATES]
        self._templates_error: int | None = None
        self._sequence = itertools.count()
        self.app = Starlette(
            routes=[
                Route("/{version}/{phone_number_id}/messages", self._messages_endpoint, methods=["POST"]),
                Route("/{version}/{phone_number_id:int}", self._number_endpoint, methods=["GET"]),
                Route("/{version}/{waba_id}/message_templates", self._templates_endpoint, methods=["GET"]),
                Route("/{path:path}", self._unknown_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # -- set-up and control ---------------------------------------------------------------------

    def register(self, number: FakeNumber) -> None:
        with self._lock:
            self._numbers[number.phone_number_id] = number

    def customer_wrote(self, phone_number_id: str, user: str, at: datetime) -> None:
        """Record that `user` (wa_id or BSUID) wrote at `at`; only the latest time counts."""
        # Told of every customer message `serve` applies, most of them real channels' (one read of a
        # dict is atomic: no lock for those).
        if phone_number_id not in self._numbers:
            return  # a real channel's customer: nothing of ours to track
        key = (phone_number_id, _user_key(user))
        with self._lock:
            last = self._inbound.get(key)
            if last is None or at > last:
                self._inbound[key] = at

    def forget_customer(self, phone_number_id: str, user: str) -> None:
        """From now on, judge `user`'s window as if they never wrote (Meta's view and ours disagree), so
        a free-form send is accepted and then fails asynchronously with 131047, as Meta does."""
        with self._lock:
            self._inbound.pop((phone_number_id, _user_key(user)), None)

    def fail_next(
        self, code: int, *, count: int = 1, http_status: int = 400, title: str = "", details: str = ""
    ) -> None:
        """The next `count` sends that pass authentication and body validation get this Meta error
        instead of going through (before the rate limits are looked at)."""
        with self._lock:
            for _ in range(count):
                self._failures.append(
                    _Injected(code, http_status, title or TITLES.get(code, "Error"), details or DETAILS.get(code, ""))
                )

    def entry_point(self, phone_number_id: str, user: str, *, window: timedelta = FREE_ENTRY_POINT_WINDOW) -> None:
        """`user` came from a Click-to-WhatsApp ad or a Facebook Page button: the business's next reply
        inside the customer service window opens a free entry point window of `window` from that reply,
        and every send inside it is priced `free_entry_point` / `referral_conversion` and carries a
        `conversation` object (its `expiration_timestamp` on `sent`), as Meta's statuses do."""
        with self._lock:
            self._entry_points[(phone_number_id, _user_key(user))] = window

    def set_pricing(self, phone_number_id: str, user: str, pricing: Mapping[str, Any] | None) -> None:
        """Send this `pricing` object (any values, unknown ones too) in the statuses of sends to `user`;
        None goes back to the fake's own pricing."""
        key = (phone_number_id, _user_key(user))
        with self._lock:
            if pricing is None:
                self._pricing_overrides.pop(key, None)
            else:
                self._pricing_overrides[key] = dict(pricing)

    def set_templates(self, templates: list[dict[str, Any]]) -> None:
        """What `GET /{waba-id}/message_templates` lists from now on, in Graph's shape."""
        with self._lock:
            self._templates = [dict(t) for t in templates]

    def fail_templates(self, code: int | None) -> None:
        """The template list answers Meta's error `code` (190: a refused token) until called with None."""
        with self._lock:
            self._templates_error = code

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, seconds)

    def set_rate_limit(self, phone_number_id: str, per_second: int) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        with self._lock:
            self._rate_limits[phone_number_id] = per_second

    # -- what happened ----------------------------------------------------------------------------

    def accepted(self, phone_number_id: str | None = None) -> list[AcceptedMessage]:
        with self._lock:
            return [m for m in self._accepted if phone_number_id in (None, m.phone_number_id)]

    def receipts(self, phone_number_id: str | None = None) -> list[ReadReceipt]:
        """The read receipts and typing indicators the business sent, oldest first."""
        with self._lock:
            return [r for r in self._receipts if phone_number_id in (None, r.phone_number_id)]

    def last_inbound_at(self, phone_number_id: str, user: str) -> datetime | None:
        with self._lock:
            return self._inbound.get((phone_number_id, _user_key(user)))

    def due_webhooks(self, until: datetime) -> list[PendingWebhook]:
        """Remove and return the status webhooks due at or before `until`, oldest first."""
        due: list[PendingWebhook] = []
        with self._lock:
            while self._queue and self._queue[0][0] <= until:
                due.append(heapq.heappop(self._queue)[2])
        return due

    def next_webhook_at(self) -> datetime | None:
        with self._lock:
            return self._queue[0][0] if self._queue else None

    def signed(self, hook: PendingWebhook) -> tuple[bytes, dict[str, str]]:
        """The bytes and headers Meta would POST: ASCII-escaped JSON, signed with the app secret."""
        with self._lock:
            number = self._numbers[hook.phone_number_id]
        raw = json.dumps(hook.body).encode("ascii")
        return raw, {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            SIGNATURE_HEADER: sign(number.app_secret, raw),
        }

    # -- the HTTP side ----------------------------------------------------------------------------

    async def _messages_endpoint(self, request: Request) -> Response:
        with self._lock:
            latency = self._latency
        if latency > 0:
            await asyncio.sleep(latency)
        raw = await request.body()
        status, answer = self.answer_send(
            request.path_params["version"],
            request.path_params["phone_number_id"],
            request.headers.get("authorization"),
            raw,
        )
        return JSONResponse(answer, status_code=status)

    def answer_send(
        self, version: str, phone_number_id: str, authorization: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """`POST /{version}/{phone-number-id}/messages` without the HTTP around it: (status, JSON answer).
        The route above and a benchmark's bare front (bench/closed_loop.py) both answer through it."""
        try:
            with self._lock:
                return 200, self._handle_send(version, phone_number_id, authorization, raw)
        except _Refused as refused:
            return refused.http_status, {"error": refused.error}

    async def _number_endpoint(self, request: Request) -> Response:
        """`GET /{version}/{phone-number-id}`: the number's public fields, to a token that may read them."""
        phone_number_id = str(request.path_params["phone_number_id"])
        with self._lock:
            try:
                number = self._authorized(phone_number_id, request.headers.get("authorization"), "get")
            except _Refused as refused:
                return JSONResponse({"error": refused.error}, status_code=refused.http_status)
        return JSONResponse(
            {
                "id": phone_number_id,
                "display_phone_number": number.display_phone_number,
                "verified_name": number.verified_name,
            }
        )

    async def _templates_endpoint(self, request: Request) -> Response:
        """`GET /{version}/{waba-id}/message_templates`: every template (any status, as Meta lists them),
        two to a page so clients must follow `paging.next`, to a token of one of the fake's numbers."""
        token = _bearer(request.headers.get("authorization"))
        with self._lock:
            known = token is not None and any(
                hmac.compare_digest(token.encode(), n.access_token.encode()) for n in self._numbers.values()
            )
            templates = list(self._templates)
            code = self._templates_error
        if code is not None:
            injected = _error(code, TITLES.get(code, "Error"), details=DETAILS.get(code) or None)
            return JSONResponse({"error": injected}, status_code=401 if code == 190 else 400)
        if not known:
            return JSONResponse(
                {"error": _error(190, "Invalid OAuth access token.", details=None, with_code_prefix=False)},
                status_code=401,
            )
        after = int(request.query_params.get("after", "0") or 0)
        page = templates[after : after + TEMPLATE_PAGE]
        body: dict[str, Any] = {"data": page}
        if after + TEMPLATE_PAGE < len(templates):
            nxt = request.url.include_query_params(after=after + TEMPLATE_PAGE)
            body["paging"] = {"cursors": {"after": str(after + TEMPLATE_PAGE)}, "next": str(nxt)}
        return JSONResponse(body)

    def _authorized(self, phone_number_id: str, authorization: str | None, verb: str) -> FakeNumber:
        """The number, if the bearer token may act for it; Meta's 401/190 or 400/100 otherwise."""
        token = _bearer(authorization)
        if token is None:
            raise _Refused(
                401,
                _error(
                    190, "Invalid OAuth access token - Cannot parse access token", details=None, with_code_prefix=False
                ),
            )
        number = self._numbers.get(phone_number_id)
        if number is None:
            raise _Refused(
                400,
                _error(
                    100,
                    f"Unsupported {verb} request. Object with ID '{phone_number_id}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation.",
                    details=None,
                    with_code_prefix=False,
                    subcode=33,
                ),
            )
        if not hmac.compare_digest(token.encode("utf-8"), number.access_token.encode("utf-8")):
            raise _Refused(401, _error(190, "Invalid OAuth access token.", details=None, with_code_prefix=False))
        return number

    async def _unknown_endpoint(self, request: Request) -> Response:
        error = _error(
            100,
            f"Unknown path components: /{request.path_params.get('path', '')}",
            details=None,
            with_code_prefix=False,
        )
        return JSONResponse({"error": error}, status_code=400)

    def _handle_send(self, version: str, phone_number_id: str, authorization: str | None, raw: bytes) -> dict[str, Any]:
        """Runs under the lock: validate, apply limits and the window, record, queue statuses."""
        if self.graph_version is not None and version != self.graph_version:
            raise _Refused(400, _error(100, "Invalid parameter", details=f"Unsupported Graph API version {version}"))
        number = self._authorized(phone_number_id, authorization, "post")
        data = _json_object(raw)
        if "status" in data:
            return self._mark_read(number, data)
        send = _parse_send(data)
        if self._failures:
            injected = self._failures.popleft()
            raise _Refused(
                injected.http_status, _error(injected.code, injected.title, details=injected.details or None)
            )
        now = self.clock.now()
        self._check_limits(phone_number_id, send.user, now)
        return self._accept(number, send, now)

    def _mark_read(self, number: FakeNumber, data: Mapping[str, Any]) -> dict[str, Any]:
        """`{"status": "read", "message_id": …}` marks a customer's message read (blue ticks); with
        `typing_indicator: {"type": "text"}` it also shows "typing…" (Meta's read-receipt and typing
        indicator call, answered `{"success": true}`)."""
        if data.get("messaging_product") != "whatsapp":
            raise _invalid("The parameter messaging_product is required and must be 'whatsapp'.")
        if data.get("status") != "read":
            raise _invalid("Param status must be 'read'.")
        message_id = data.get("message_id")
        if not isinstance(message_id, str) or not message_id.strip():
            raise _invalid("The parameter message_id is required.")
        typing = data.get("typing_indicator")
        if typing is not None and not (isinstance(typing, dict) and typing.get("type") == "text"):
            raise _invalid("Param typing_indicator must be {'type': 'text'}.")
        self._receipts.append(ReadReceipt(number.phone_number_id, message_id, typing is not None, self.clock.now()))
        return {"success": True}

    def _check_limits(self, phone_number_id: str, user: str, now: datetime) -> None:
        limit = self._rate_limits.get(phone_number_id)
        recent = _pruned(self._recent_sends.setdefault(phone_number_id, deque()), now - THROUGHPUT_WINDOW)
        if limit is not None and len(recent) >= limit:
            raise _Refused(400, _error(130429, TITLES[130429], details=DETAILS[130429], subcode=2494055))
        pair_times = self._recent_pair_sends.setdefault((phone_number_id, user), deque())
        pair = _pruned(pair_times, now - PAIR_WINDOW)
        if len(pair) >= self.pair_burst:
            raise _Refused(400, _error(131056, TITLES[131056], details=DETAILS[131056], subcode=2494071))

    def _accept(self, number: FakeNumber, send: _Send, now: datetime) -> dict[str, Any]:
        pnid = number.phone_number_id
        self._recent_sends[pnid].append(now)
        self._recent_pair_sends[(pnid, send.user)].append(now)
        wamid = new_wamid(send.user if send.to else None)
        self._accepted.append(
            AcceptedMessage(
                phone_number_id=pnid,
                wamid=wamid,
                to=send.to,
                recipient=send.recipient,
                type=send.type,
                body=send.body,
                template=send.template,
                callback_data=send.callback_data,
                sent_at=now,
                payload=send.payload,
            )
        )
        last = self._inbound.get((pnid, send.user))
        window_open = last is not None and now - last <= WINDOW
        self._queue_statuses(pnid, wamid, send, now, window_open)

        contact: dict[str, str] = {"input": send.to or send.recipient or ""}
        if send.to:
            contact["wa_id"] = send.user
        else:
            contact["user_id"] = send.user
        message: dict[str, str] = {"id": wamid}
        if send.type == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}

    def _queue_statuses(self, pnid: str, wamid: str, send: _Send, now: datetime, window_open: bool) -> None:
        def queue(status: str, at: datetime, **extra: Any) -> None:
            body = status_body(
                phone_number_id=pnid,
                wamid=wamid,
                status=status,
                timestamp=at,
                recipient_id=send.user if send.to else None,
                recipient_user_id=None if send.to else send.user,
                callback_data=send.callback_data,
                display_phone_number=DEFAULT_DISPLAY_PHONE_NUMBER,
                **extra,
            )
            hook = PendingWebhook(due_at=at, phone_number_id=pnid, body=body)
            heapq.heappush(self._queue, (at, next(self._sequence), hook))

        if send.type != "template" and not window_open:
            # What Meta does: the send is accepted, the failure comes later as a status.
            error = {
                "code": 131047,
                "title": TITLES[131047],
                "message": TITLES[131047],
                "error_data": {"details": DETAILS[131047]},
                "href": ERROR_HREF,
            }
            queue("failed", now + REENGAGEMENT_FAILURE_DELAY, errors=[error])
            return
        if self.status_delays is None:
            return
        pricing, conversation = self._priced(pnid, send, now, window_open)
        delivered_after, read_after = self.status_delays
        sent_conversation = conversation
        if conversation is not None:  # only `sent` carries the expiry
            conversation = {k: v for k, v in conversation.items() if k != "expiration_timestamp"}
        queue("sent", now, pricing=pricing, conversation=sent_conversation)
        queue("delivered", now + delivered_after, pricing=pricing, conversation=conversation)
        queue("read", now + read_after, conversation=conversation)

    def _priced(
        self, pnid: str, send: _Send, now: datetime, window_open: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The `pricing` and `conversation` objects of this send's statuses."""
        key = (pnid, send.user)
        armed = self._entry_points.get(key)
        if armed is not None and window_open:
            del self._entry_points[key]
            self._free_windows[key] = (secrets.token_hex(16), now + armed)
        free = self._free_windows.get(key)
        conversation = None
        pricing = _pricing(self._category(send), window_open, now)
        if free is not None and now < free[1]:
            pricing = {
                "billable": False,
                "pricing_model": "PMP",
                "type": "free_entry_point",
                "category": "referral_conversion",
            }
            conversation = {
                "id": free[0],
                "origin": {"type": "referral_conversion"},
                "expiration_timestamp": str(int(free[1].timestamp())),
            }
        return self._pricing_overrides.get(key, pricing), conversation

    def _category(self, send: _Send) -> str:
        """`service` for a free-form message; a template's category as its listing says (lower case, as
        statuses write it), `utility` for a template the fake does not list."""
        if send.type != "template" or send.template is None:
            return "service"
        name, language = send.template.get("name"), send.template.get("language", {}).get("code")
        listed = [t for t in self._templates if t.get("name") == name]
        exact = [t for t in listed if t.get("language") == language] or listed
        category = exact[0].get("category") if exact else None
        return category.lower() if isinstance(category, str) and category else "utility"


# -- request parsing --------------------------------------------------------------------------------


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise _invalid("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _invalid("The request body must be a JSON object.")
    return data


def _parse_send(data: dict[str, Any]) -> _Send:
    if data.get("messaging_product") != "whatsapp":
        raise _invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    recipient_type = data.get("recipient_type", "individual")
    if recipient_type not in ("individual", "group"):
        raise _invalid("Param recipient_type must be one of {individual, group}.")
    to = data.get("to")
    recipient = data.get("recipient")
    if to is not None and (not isinstance(to, str) or not _phone_digits(to)):
        raise _invalid("Param to must be a phone number.")
    if recipient is not None and (not isinstance(recipient, str) or not recipient.strip()):
        raise _invalid("Param recipient must be a business-scoped user id.")
    if to is None and recipient is None:
        raise _invalid("The parameter to is required.")
    # Meta uses `to` when both are given.
    user = _phone_digits(to) if isinstance(to, str) else str(recipient).strip()
    kind = data.get("type", _implied_type(data))
    if not isinstance(kind, str) or kind not in SEND_TYPES:
        raise _invalid(f"Param type must be one of {{{', '.join(sorted(SEND_TYPES))}}}.")
    callback = data.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or len(callback) > MAX_CALLBACK_DATA_LENGTH):
        raise _invalid(
            f"Param biz_opaque_callback_data must be a string of at most {MAX_CALLBACK_DATA_LENGTH} characters."
        )
    context = data.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        raise _invalid("Param context must be an object with a message_id.")
    body: str | None = None
    template: dict[str, Any] | None = None
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"].strip():
            raise _invalid("The parameter text['body'] is required.")
        if len(text["body"]) > MAX_TEXT_LENGTH:
            raise _invalid(f"Param text['body'] must be at most {MAX_TEXT_LENGTH} characters long.")
        if "preview_url" in text and not isinstance(text["preview_url"], bool):
            raise _invalid("Param text['preview_url'] must be a boolean.")
        body = text["body"]
    elif kind == "template":
        template = _valid_template(data.get("template"))
    elif kind == "contacts":
        contacts = data.get("contacts")
        if not isinstance(contacts, list) or not contacts or not all(isinstance(c, dict) for c in contacts):
            raise _invalid("The parameter contacts is required and must be a list of contact objects.")
    elif not isinstance(data.get(kind), dict):
        raise _invalid(f"The parameter {kind} is required.")
    return _Send(
        to=to if isinstance(to, str) else None,
        recipient=recipient if to is None else None,
        user=user,
        type=kind,
        body=body,
        template=template,
        callback_data=callback,
        payload=data,
    )


def _implied_type(data: Mapping[str, Any]) -> str:
    """`type` may be left out (Meta's own "Send Reply to List Message" example does): Meta then reads it
    from the one message object the body carries, `text` when it carries none."""
    present = [kind for kind in SEND_TYPES if kind in data]
    return present[0] if len(present) == 1 else "text"


def _valid_template(template: Any) -> dict[str, Any]:
    if not isinstance(template, dict):
        raise _invalid("The parameter template is required.")
    name = template.get("name")
    language = template.get("language")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("The parameter template['name'] is required.")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        raise _invalid("The parameter template['language']['code'] is required.")
    components = template.get("components", [])
    if not isinstance(components, list) or not all(
        isinstance(c, dict) and isinstance(c.get("type"), str) and isinstance(c.get("parameters", []), list)
        for c in components
    ):
        raise _invalid("Param template['components'] must be a list of components.")
    for component in components:
        for parameter in component.get("parameters", []):
            if not isinstance(parameter, dict) or not isinstance(parameter.get("type"), str):
                raise _invalid("Each template parameter must be an object with a type.")
    return template


def _invalid(details: str) -> _Refused:
    return _Refused(400, _error(100, TITLES[100], details=details))


# -- helpers ----------------------------------------------------------------------------------------


def _error(
    code: int, title: str, *, details: str | None, with_code_prefix: bool = True, subcode: int | None = None
) -> dict[str, Any]:
    """Meta's error object: "(#code) title" as the message; details under error_data."""
    error: dict[str, Any] = {
        "message": f"(#{code}) {title}" if with_code_prefix else title,
        "type": "OAuthException",
        "code": code,
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return error


def _pricing(category: str, window_open: bool, now: datetime) -> dict[str, Any]:
    """Before SERVICE_BILLED_FROM a service reply, or a utility template inside the open window, is free
    (`free_customer_service`); from then on, like every other template and any template outside the
    window, it is billed (`regular`) in the category it was sent in."""
    free = category in ("service", "utility") and window_open and now < SERVICE_BILLED_FROM
    billable = not free
    return {
        "billable": billable,
        "pricing_model": "PMP",
        "type": "regular" if billable else "free_customer_service",
        "category": category,
    }


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _phone_digits(value: str) -> str:
    """Digits of a phone number as Meta normalises it ("+1 555-0100" → "15550100"); "" if not one."""
    stripped = value.strip()
    if not stripped or any(ch not in "+0123456789 -()" for ch in stripped):
        return ""
    return "".join(ch for ch in stripped if ch.isdigit())


def _user_key(user: str) -> str:
    digits = _phone_digits(user)
    return digits or user.strip()


def _pruned(times: deque[datetime], older_than_or_at: datetime) -> deque[datetime]:
    while times and times[0] <= older_than_or_at:
        times.popleft()
    return times

"""Send client for `POST /{version}/{phone-number-id}/messages`.

Every failure is turned into one of two kinds of exception, because the sender's at-most-once
guarantee depends on telling them apart:

- `CloudApiError` (and subclasses): Meta answered, or the request certainly never left, so
  `retry` can be trusted;
- `OutcomeUnknownError`: the request may have reached Meta and the message may be on its way;
  trying again could deliver it twice.

The access token goes into the Authorization header only: never into a message or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from wasession.whatsapp.errors import (
    CloudApiError,
    OutcomeUnknownError,
    RequestNotSentError,
    RetryAdvice,
    error_from_response,
)
from wasession.whatsapp.templates import MAX_PAGES as MAX_TEMPLATE_PAGES
from wasession.whatsapp.templates import Template
from wasession.whatsapp.templates import parse_page as parse_template_page
from wasession.whatsapp.transport import (
    BadUrl,
    HttpxTransport,
    MaybeSent,
    NotSent,
    RawResponse,
    Transport,
    TransportError,
)
from wasession.whatsapp.wire import WireTransport

DEFAULT_GRAPH_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None
    user_id: str | None
    message_status: str | None


class CloudClient:
    def __init__(
        self,
        http: httpx.Client | Transport,
        *,
        base_url: str = DEFAULT_BASE_URL,
        graph_version: str = DEFAULT_GRAPH_VERSION,
    ) -> None:
        self._http: Transport = HttpxTransport(http) if isinstance(http, httpx.Client) else http
        # The base may carry a path (the sandbox mounts the fake under /sandbox/graph), so the URL is
        # joined by hand rather than with httpx's base_url rules.
        self._base = base_url.rstrip("/")
        self._version = graph_version.strip("/")

    def messages_url(self, phone_number_id: str) -> str:
        return f"{self._base}/{self._version}/{phone_number_id}/messages"

    def send_text(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        to: str | None = None,
        recipient: str | None = None,
        body: str,
        preview_url: bool = False,
        callback_data: str | None = None,
        reply_to: str | None = None,
    ) -> SendResult:
        payload = text_payload(
            to=to,
            recipient=recipient,
            body=body,
            preview_url=preview_url,
            callback_data=callback_data,
            reply_to=reply_to,
        )
        return self.send(phone_number_id, access_token, payload)

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
        payload = template_payload(
            to=to,
            recipient=recipient,
            name=name,
            language=language,
            body_parameters=body_parameters,
            callback_data=callback_data,
        )
        return self.send(phone_number_id, access_token, payload)

    def send(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> SendResult:
        """POST a message payload (`text_payload`, `template_payload`) in this thread."""
        return _result(self._send_raw(phone_number_id, access_token, payload), phone_number_id)

    @property
    def wire(self) -> WireTransport | None:
        """The transport whose event loop may carry this client's sends (`send_on_wire`); None: sends
        need a thread (the in-process fake's httpx client, a Chatwoot connection)."""
        return self._http if isinstance(self._http, WireTransport) else None

    async def send_on_wire(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> SendResult:
        """`send`, awaited on the loop of `wire` (which must not be None)."""
        assert isinstance(self._http, WireTransport)
        url, content, headers = self._send_request(phone_number_id, access_token, payload)
        try:
            response = await self._http.exchange("POST", url, content, headers)
        except TransportError as exc:
            raise self._send_failure(phone_number_id, exc) from exc
        return _result(response, phone_number_id)

    def phone_number(self, phone_number_id: str, access_token: str) -> PhoneNumberInfo:
        """`GET /{version}/{phone-number-id}` with the channel's own token: the number exists and the token
        may act for it. Raises `CloudApiError` (an `AuthError` for a bad token) or `RequestNotSentError`."""
        url = f"{self._base}/{self._version}/{phone_number_id}?fields=display_phone_number,verified_name"
        response, data = self._get(url, access_token)
        if not 200 <= response.status < 300 or not isinstance(data, Mapping) or data.get("id") != phone_number_id:
            raise error_from_response(response.status, data if data is not None else response.body)
        return PhoneNumberInfo(
            id=phone_number_id,
            display_phone_number=_opt_str(data.get("display_phone_number")),
            verified_name=_opt_str(data.get("verified_name")),
        )

    def message_templates(self, waba_id: str, access_token: str) -> list[Template]:
        """The account's APPROVED templates, every page. Raises like `phone_number`."""
        url: str | None = (
            f"{self._base}/{self._version}/{waba_id}/message_templates"
            "?fields=name,language,status,category,components&limit=100"
        )
        found: list[Template] = []
        for _ in range(MAX_TEMPLATE_PAGES):
            if url is None:
                break
            # Only follow `next` within the same Graph origin: it carries the channel's token.
            if not url.startswith(self._base + "/"):
                break
            response, data = self._get(url, access_token)
            if not 200 <= response.status < 300 or not isinstance(data, Mapping):
                raise error_from_response(response.status, data if data is not None else response.body)
            page, url = parse_template_page(data)
            found.extend(page)
        return found

    def _get(self, url: str, access_token: str) -> tuple[RawResponse, Any]:
        """A Graph read and its decoded JSON (None when unreadable)."""
        try:
            response = self._http.get(url, {"Authorization": f"Bearer {access_token}"})
        except BadUrl as exc:
            raise CloudApiError(None, None, retry=RetryAdvice.NEVER, description=f"unusable URL ({exc})") from exc
        except (NotSent, MaybeSent) as exc:  # a read: nothing to be unsure about, just not answered
            raise RequestNotSentError(None, None, description=f"could not reach the Cloud API ({exc})") from exc
        try:
            return response, json.loads(response.body)
        except (ValueError, RecursionError):
            return response, None

    def mark_read(self, *, phone_number_id: str, access_token: str, message_id: str, typing: bool = False) -> None:
        """Meta's read receipt (blue ticks on the customer's message `message_id`); with `typing`, also the
        typing indicator, shown until the reply or 25 s. Answered `{"success": true}`; raises like a send."""
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        _accepted_json(self._send_raw(phone_number_id, access_token, payload))

    def _send_request(
        self, phone_number_id: str, access_token: str, payload: dict[str, Any]
    ) -> tuple[str, bytes, dict[str, str]]:
        headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        return self.messages_url(phone_number_id), json.dumps(payload).encode("utf-8"), headers

    def _send_raw(self, phone_number_id: str, access_token: str, payload: dict[str, Any]) -> RawResponse:
        try:
            return self._http.post(*self._send_request(phone_number_id, access_token, payload))
        except TransportError as exc:
            raise self._send_failure(phone_number_id, exc) from exc

    def _send_failure(self, phone_number_id: str, exc: TransportError) -> CloudApiError | OutcomeUnknownError:
        """What a transport failure means for a send: certainly not sent, never sendable, or maybe sent."""
        if isinstance(exc, NotSent):
            return RequestNotSentError(None, None, description=f"could not reach the Cloud API ({exc})")
        if isinstance(exc, BadUrl):
            return CloudApiError(
                None,
                None,
                retry=RetryAdvice.NEVER,
                description=f"the Cloud API base URL {self._base!r} is not usable ({exc})",
            )
        # A timeout or broken connection after the request (or part of it) went out: Meta may have
        # accepted the message.
        return OutcomeUnknownError(
            f"the send to phone number {phone_number_id} may or may not have reached the Cloud API ({exc})"
        )


@dataclass(frozen=True)
class PhoneNumberInfo:
    """What Graph says of a phone number id to a token that may read it."""

    id: str
    display_phone_number: str | None
    verified_name: str | None


def text_payload(
    *,
    to: str | None,
    recipient: str | None,
    body: str,
    preview_url: bool = False,
    callback_data: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    payload = _addressed(to, recipient)
    payload["type"] = "text"
    payload["text"] = {"preview_url": preview_url, "body": body}
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    if callback_data is not None:
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def template_payload(
    *,
    to: str | None,
    recipient: str | None,
    name: str,
    language: str,
    body_parameters: Sequence[str] | Mapping[str, str] = (),
    callback_data: str | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    parameters = _template_parameters(body_parameters)
    if parameters:
        template["components"] = [{"type": "body", "parameters": parameters}]
    payload = _addressed(to, recipient)
    payload["type"] = "template"
    payload["template"] = template
    if callback_data is not None:
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def _addressed(to: str | None, recipient: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to:
        # Without the "+", Meta prepends the business number's own country code, which can
        # misdeliver; with both fields Meta uses `to` anyway, so the BSUID is left out.
        payload["to"] = f"+{to}" if to.isdigit() else to
    elif recipient:
        payload["recipient"] = recipient
    else:
        raise ValueError("a send needs `to` (a phone number) or `recipient` (a business-scoped user id)")
    return payload


def _template_parameters(params: Sequence[str] | Mapping[str, str]) -> list[dict[str, str]]:
    if isinstance(params, str):
        raise TypeError("body_parameters must be a sequence or a mapping of strings, not one string")
    if isinstance(params, Mapping):
        return [{"type": "text", "parameter_name": str(k), "text": str(v)} for k, v in params.items()]
    return [{"type": "text", "text": str(v)} for v in params]


def _accepted_json(response: RawResponse) -> Any:
    """The answer's JSON (None if it is not JSON), or Meta's error raised for a non-2xx answer."""
    try:
        data: Any = json.loads(response.body)
    except (ValueError, RecursionError):
        data = None
    if not 200 <= response.status < 300:
        raise error_from_response(response.status, data if data is not None else response.body)
    return data


def _result(response: RawResponse, phone_number_id: str) -> SendResult:
    data = _accepted_json(response)
    messages = data.get("messages") if isinstance(data, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, Mapping) else None
    if not isinstance(wamid, str) or not wamid:
        # A 2xx means Meta accepted the message; without its id we cannot track it, but resending
        # would deliver it twice.
        raise OutcomeUnknownError(
            f"the Cloud API accepted a send to phone number {phone_number_id} (HTTP {response.status}) "
            "but its answer carries no message id"
        )
    contacts = data.get("contacts") if isinstance(data, Mapping) else None
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    if not isinstance(contact, Mapping):
        contact = {}
    status = first.get("message_status") if isinstance(first, Mapping) else None
    return SendResult(
        wamid=wamid,
        wa_id=_opt_str(contact.get("wa_id")),
        user_id=_opt_str(contact.get("user_id")),
        message_status=_opt_str(status),
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

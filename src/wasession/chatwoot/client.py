"""A client of Chatwoot's REST API (`api_access_token` header), over the guarded outbound requests.

Every call goes through `outbound.http.guarded_request`: the URL is a tenant's, so it obeys the outbound
address rules, has a total deadline and a capped answer. Failures are sorted by what a retry may do, which
is all the callers need: `NotSent` (the request never reached Chatwoot's application: refused connection,
502/503/429 from its proxy), `MaybeSent` (a timeout after the request left, a 500 or 504: it may have been
applied), `Refused` (Chatwoot answered no: 401, 404, 422 — its `{"error": …}` text is kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wasession.outbound.addresses import AddressPolicy
from wasession.outbound.http import CONNECT_FAILED, REFUSED_ADDRESS, OutboundResult, guarded_request

DEADLINE = 10.0
MAX_ANSWER = 1024 * 1024  # a contact search or conversation list may be long


class ChatwootError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotSent(ChatwootError):
    """Chatwoot's application never saw the request: repeating it is safe."""


class MaybeSent(ChatwootError):
    """It may have been applied: a non-idempotent call (a message) must not be repeated."""


class Refused(ChatwootError):
    """Chatwoot answered with a 4xx: repeating the same request gets the same answer."""


@dataclass(frozen=True)
class ChatwootClient:
    base_url: str
    api_token: str
    account_id: int
    policy: AddressPolicy
    deadline: float = DEADLINE

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _account(self, path: str) -> str:
        return self._url(f"/api/v1/accounts/{self.account_id}{path}")

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"api_access_token": self.api_token, "Accept": "application/json"}
        raw = None
        if body is not None:
            raw = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        result = guarded_request(
            method, url, raw, headers, policy=self.policy, deadline=self.deadline, max_answer=MAX_ANSWER
        )
        return _answer(result)

    # -- reads ------------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        return dict(self._call("GET", self._url("/api/v1/profile")))

    def inbox(self, inbox_id: int) -> dict[str, Any]:
        return dict(self._call("GET", self._account(f"/inboxes/{inbox_id}")))

    def search_contacts(self, q: str) -> list[dict[str, Any]]:
        found = self._call("GET", self._account(f"/contacts/search?q={quote(q)}"))
        payload = found.get("payload") if isinstance(found, dict) else None
        return [c for c in payload or [] if isinstance(c, dict)]

    def contact_conversations(self, contact_id: int) -> list[dict[str, Any]]:
        found = self._call("GET", self._account(f"/contacts/{contact_id}/conversations"))
        payload = found.get("payload") if isinstance(found, dict) else None
        return [c for c in payload or [] if isinstance(c, dict)]

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        return dict(self._call("GET", self._account(f"/conversations/{conversation_id}")))

    # -- writes -----------------------------------------------------------------------------------

    def create_message(
        self,
        conversation_id: int,
        content: str,
        *,
        private: bool = False,
        content_attributes: dict[str, Any] | None = None,
        template_params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content, "message_type": "outgoing", "private": private}
        if content_attributes:
            body["content_attributes"] = content_attributes
        if template_params:
            body["template_params"] = template_params
        return dict(self._call("POST", self._account(f"/conversations/{conversation_id}/messages"), body))

    def toggle_status(self, conversation_id: int, status: str) -> dict[str, Any]:
        url = self._account(f"/conversations/{conversation_id}/toggle_status")
        return dict(self._call("POST", url, {"status": status}))

    def set_custom_attributes(self, conversation_id: int, values: dict[str, Any]) -> dict[str, Any]:
        url = self._account(f"/conversations/{conversation_id}/custom_attributes")
        return dict(self._call("POST", url, {"custom_attributes": values}))


def _error_text(result: OutboundResult) -> str:
    try:
        parsed = json.loads(result.body)
    except ValueError:
        return ""
    if isinstance(parsed, dict):
        text = parsed.get("error") or parsed.get("message") or ""
        return str(text)[:300]
    return ""


def _answer(result: OutboundResult) -> Any:
    if result.ok:
        if result.truncated:
            raise MaybeSent("Chatwoot's answer was too large", result.status)
        try:
            return json.loads(result.body) if result.body else {}
        except ValueError as exc:
            raise MaybeSent("Chatwoot's answer was not JSON", result.status) from exc
    status = result.status
    if status is None:
        if result.error in (CONNECT_FAILED, REFUSED_ADDRESS):
            cls: type[ChatwootError] = NotSent
        else:
            cls = MaybeSent
        what = "its address is not allowed" if result.error == REFUSED_ADDRESS else result.error
        raise cls(f"Chatwoot could not be reached ({what})")
    text = _error_text(result)
    message = f"Chatwoot answered {status}" + (f": {text}" if text else "")
    if status in (429, 502, 503):
        raise NotSent(message, status)
    if 400 <= status < 500:
        raise Refused(message, status)
    raise MaybeSent(message, status)

"""Cloud API error codes as typed exceptions, each carrying what the sender should do next.

The classification and the reasons behind it are in docs/decisions/0002-cloud-api-retry-policy.md.
Branch on `code` only: Meta says titles and messages will change, and the HTTP status of an error
is not documented per code.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CloudError:
    code: int
    title: str
    message: str
    details: str | None
    subcode: int | None = None
    fbtrace_id: str | None = None


class RetryAdvice(enum.Enum):
    NEVER = "never"
    BACKOFF = "backoff"
    PAIR_BACKOFF = "pair_backoff"
    PAUSE_CHANNEL = "pause_channel"


class CloudApiError(Exception):
    """A send Meta refused (or that never reached Meta); `retry` says whether to try again."""

    default_retry = RetryAdvice.NEVER

    def __init__(
        self,
        error: CloudError | None,
        http_status: int | None = None,
        *,
        retry: RetryAdvice | None = None,
        description: str | None = None,
    ) -> None:
        self.error = error
        self.http_status = http_status
        self.retry = retry if retry is not None else self.default_retry
        super().__init__(description or _describe(error, http_status))

    @property
    def code(self) -> int | None:
        return self.error.code if self.error else None


class AuthError(CloudApiError):
    """The access token is expired or invalid: every send on the channel would fail the same way."""

    default_retry = RetryAdvice.PAUSE_CHANNEL


class CloudPermissionError(CloudApiError):
    """The app lacks a permission or capability for this number: a configuration problem."""

    default_retry = RetryAdvice.PAUSE_CHANNEL


class ThrottledError(CloudApiError):
    """Meta is overloaded, rate limiting the app or number, or briefly unavailable."""

    default_retry = RetryAdvice.BACKOFF


class RequestNotSentError(ThrottledError):
    """The connection failed before the request left: it certainly did not reach Meta, so a retry
    cannot send a message twice."""


class PairRateLimitError(CloudApiError):
    """Too many messages to this one user; other users are unaffected."""

    default_retry = RetryAdvice.PAIR_BACKOFF


class ReEngagementError(CloudApiError):
    """More than 24 hours since the user last wrote: only a template can reach them now."""


class UndeliverableError(CloudApiError):
    """Meta will not deliver to this user (not on WhatsApp, old client, per-user limits, experiments)."""


class UnsupportedMessageTypeError(CloudApiError):
    pass


class PolicyBlockError(CloudApiError):
    """The business or number is restricted, blocked, or has a billing or registration problem."""


class TemplateError(CloudApiError):
    pass


class InvalidParameterError(CloudApiError):
    pass


class OutcomeUnknownError(Exception):
    """The request may have reached Meta (a timeout after sending, a connection dropped mid-response).
    Retrying could send the message twice, so it must never be retried automatically."""


_BY_CODE: dict[int, type[CloudApiError]] = {}


def _register(cls: type[CloudApiError], *codes: int) -> None:
    for code in codes:
        _BY_CODE[code] = cls


_register(AuthError, 0, 190)
_register(CloudPermissionError, 3, 10)
_register(ThrottledError, 130429, 4, 80007, 131057, 131016, 131000, 2, 1)
_register(PairRateLimitError, 131056)
_register(ReEngagementError, 131047)
_register(UndeliverableError, 131026, 131049, 131050, 130472)
_register(UnsupportedMessageTypeError, 131051)
_register(PolicyBlockError, 368, 131031, 130497, 131048, 131064, 130403, 131042, 131045)
_register(InvalidParameterError, 100, 131008, 131009, 131021, 131062)


def class_for_code(code: int) -> type[CloudApiError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if 200 <= code <= 299:
        return CloudPermissionError
    if 132000 <= code <= 132999:
        return TemplateError
    return CloudApiError


def error_for(error: CloudError, http_status: int | None = None) -> CloudApiError:
    return class_for_code(error.code)(error, http_status)


def error_from_response(status_code: int, body: Any) -> CloudApiError:
    """The exception for a non-2xx answer; `body` may be the decoded JSON, raw bytes or text."""
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            body = None
    payload = body.get("error") if isinstance(body, Mapping) else None
    error = cloud_error_from(payload) if isinstance(payload, Mapping) else None
    if error is not None:
        return error_for(error, status_code)
    # No readable error: a bare 5xx or 429 is an overloaded server or proxy, which a later try
    # may get past; any other bare 4xx is our request being wrong, which trying again won't fix.
    retry = RetryAdvice.BACKOFF if status_code >= 500 or status_code == 429 else RetryAdvice.NEVER
    return CloudApiError(None, status_code, retry=retry)


def cloud_error_from(data: Mapping[str, Any]) -> CloudError | None:
    """A CloudError from Meta's error object (send responses, status and webhook `errors[]`);
    None when it has no usable integer `code`."""
    code = _as_int(data.get("code"))
    if code is None:
        return None
    message = _as_str(data.get("message")) or ""
    # Send responses carry no title, only "(#code) title" in the message; webhooks carry both.
    title = _as_str(data.get("title")) or _as_str(data.get("error_user_title")) or _strip_code(message, code)
    message = message or title
    error_data = data.get("error_data")
    details = _as_str(error_data.get("details")) if isinstance(error_data, Mapping) else None
    return CloudError(
        code=code,
        title=title,
        message=message,
        details=details,
        subcode=_as_int(data.get("error_subcode")),
        fbtrace_id=_as_str(data.get("fbtrace_id")),
    )


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1 = first retry): exponential with "equal jitter",
    uniform between half the ceiling and the ceiling. The jitter keeps many senders throttled at
    once from coming back in lockstep; the fixed half keeps every wait at least as long as the one
    before it, so a throttled message really does back off (ADR 0005)."""
    exponent = min(max(attempt, 0), 62)  # 2**62 already exceeds any sane cap; avoids float overflow
    ceiling = min(cap, base * float(2**exponent))
    return ceiling / 2 + (rng or _rng).uniform(0.0, ceiling / 2)


def pair_backoff_delay(attempt: int, *, cap: float = 3600.0) -> float:
    """Meta's rule for 131056: wait 4**attempt seconds. Capped, because past an hour the wait no
    longer helps a message that only matters inside a 24-hour window."""
    exponent = min(max(attempt, 0), 30)
    return min(cap, float(4**exponent))


_rng = random.Random()


def _describe(error: CloudError | None, http_status: int | None) -> str:
    if error is None:
        if http_status is None:
            return "Cloud API error"
        return f"Cloud API answered HTTP {http_status} with no readable error"
    text = f"Cloud API error {error.code}"
    if error.title:
        text += f" ({error.title})"
    detail = error.details or (error.message if error.message != error.title else None)
    if detail:
        text += f": {detail}"
    if http_status is not None:
        text += f" [HTTP {http_status}]"
    return text


def _strip_code(message: str, code: int) -> str:
    prefix = f"(#{code})"
    return message[len(prefix) :].strip() if message.startswith(prefix) else ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None

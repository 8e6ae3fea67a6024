"""What the sender does after a request, decided from its result alone (no database, no clock reads).

ADR 0002 holds the retry policy; the at-most-once rule is that anything that may have reached Meta is
`Unknown` and never sent again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wasession.whatsapp.client import SendResult
from wasession.whatsapp.errors import (
    CloudApiError,
    OutcomeUnknownError,
    RetryAdvice,
    backoff_delay,
    pair_backoff_delay,
)

# Attempts a message gets before a retryable error becomes final.
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Accepted:
    wamid: str


@dataclass(frozen=True)
class Retry:
    at: datetime
    delay_seconds: float
    code: int | None
    title: str = field(default="", compare=False)  # what went wrong, shown beside the next attempt's time


@dataclass(frozen=True)
class Failed:
    code: int | None
    title: str
    detail: str


@dataclass(frozen=True)
class Unknown:
    """The request may have reached Meta: never sent again."""

    detail: str


@dataclass(frozen=True)
class Paused:
    """An error every send on the channel would hit (an expired token): the channel stops sending and the
    message waits, this attempt not counted, until an administrator fixes the credentials."""

    code: int | None
    title: str
    detail: str
    reason: str  # the channel's pause reason


Outcome = Accepted | Retry | Failed | Unknown | Paused


def classify(
    result: SendResult | Exception, *, attempt: int, now: datetime, rng: random.Random | None = None
) -> Outcome:
    """`attempt` is this request's number (1 = the first); `rng` draws the backoff jitter."""
    if isinstance(result, SendResult):
        return Accepted(result.wamid)
    if isinstance(result, OutcomeUnknownError):
        return Unknown(str(result))
    if not isinstance(result, CloudApiError):
        # Not Meta's answer and no transport failure: our own request could not be made (no address…).
        return Failed(None, type(result).__name__, str(result))
    error = result.error
    code = error.code if error else None
    title = error.title if error else type(result).__name__
    if result.retry is RetryAdvice.PAUSE_CHANNEL:
        reason = f"error {code}: {error.message if error else result}"
        return Paused(code, title, str(result), reason)
    if result.retry in (RetryAdvice.BACKOFF, RetryAdvice.PAIR_BACKOFF) and attempt < MAX_ATTEMPTS:
        if result.retry is RetryAdvice.PAIR_BACKOFF:
            delay = pair_backoff_delay(attempt)
        else:
            delay = backoff_delay(attempt, rng=rng)
        return Retry(now + timedelta(seconds=delay), delay, code, title)
    return Failed(code, title, (error.details or error.message) if error else str(result))

"""The outbox: claims pending outbound messages, sends them within the rate limits, records the outcome.

Modules, one concern each: `claim` (ready channels, claiming), `limits` and `ratelimit` (how fast),
`request` (the Graph request for a job), `outcome` (what a result means, pure), `record` (writing it),
`sender` (the loop and its thread pool).
"""

from wasession.outbox.jobs import SendReport
from wasession.outbox.limits import HeldSlots, RecipientPacer, effective_rate
from wasession.outbox.outcome import MAX_ATTEMPTS
from wasession.outbox.ratelimit import SharedRateLimiter, limiter_for
from wasession.outbox.sender import STUCK_AFTER, Sender

__all__ = [
    "MAX_ATTEMPTS",
    "STUCK_AFTER",
    "HeldSlots",
    "RecipientPacer",
    "SendReport",
    "Sender",
    "SharedRateLimiter",
    "effective_rate",
    "limiter_for",
]

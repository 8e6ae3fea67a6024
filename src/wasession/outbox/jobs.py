"""What passes between the sender's steps: a claimed job, a deferral, and the tally of a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wasession.domain.events import EventType
from wasession.store.channels import Channel, ChannelSecrets
from wasession.store.messages import MessageRow
from wasession.whatsapp.client import SendResult


@dataclass(frozen=True)
class Job:
    """One claimed message, marked `sending`, with all its request needs."""

    message: MessageRow
    channel: Channel
    secrets: ChannelSecrets
    to: str | None
    recipient: str | None
    paced_at: datetime  # the recipient pacer's slot, given back if no request is made

    @property
    def pacer_key(self) -> tuple[int, str]:
        return pacer_key(self.channel.id, self.to, self.recipient)


@dataclass(frozen=True)
class Deferred:
    """No request was made (the rate limit had no slot): back to the outbox, no attempt counted."""

    until: datetime


# What a worker hands back for a job: Meta's acceptance, a deferral, or what went wrong.
Attempt = SendResult | Deferred | Exception


def pacer_key(channel_id: int, to: str | None, recipient: str | None) -> tuple[int, str]:
    return channel_id, to or recipient or ""


def message_event(kind: str, what: str) -> EventType:
    """The event type of something that happened to an outbound message: `reminder_…` or `message_…`."""
    return EventType.for_status(kind, what)


@dataclass
class SendReport:
    accepted: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0
    paused: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.failed + self.retried + self.unknown + self.skipped

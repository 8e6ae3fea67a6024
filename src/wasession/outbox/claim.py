"""Claiming: which channels have ready messages, and marking a fair share of them `sending`.

Each claimed message is re-checked first (the reminder gate R6, the agent's 24-hour window) and paced
per recipient; what passes is marked `sending` in the claiming transaction, before any request leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from wasession.domain.policy import Policy
from wasession.domain.states import MessageKind, reminder_skip_reason
from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.outbox.jobs import Job, SendReport, pacer_key
from wasession.outbox.limits import RecipientPacer, effective_rate
from wasession.outbox.record import record_skip
from wasession.store import messages as message_store
from wasession.store import outbox as outbox_store
from wasession.store.channels import Channel, ChannelCache
from wasession.store.db import Connection
from wasession.store.messages import MessageRow
from wasession.store.outbox import SessionCheck


@dataclass(frozen=True)
class Room:
    """How many more sends may start: in all (`batch`), and per channel given what it has in flight."""

    batch: int
    per_channel: int
    in_flight: Mapping[int, int]

    def for_channel(self, channel_id: int) -> int:
        return max(0, self.per_channel - self.in_flight.get(channel_id, 0))


def ready_channels(conn: Connection, now: datetime, cache: ChannelCache) -> list[Channel]:
    found = [cache.by_id(conn, i) for i in outbox_store.ready_channel_ids(conn, now)]
    return [c for c in found if c is not None]


def claim(
    conn: Connection,
    ctx: ServiceContext,
    pacer: RecipientPacer,
    ready: list[Channel],
    room: Room,
    now: datetime,
    report: SendReport,
    cache: ChannelCache,
) -> tuple[list[Job], int]:
    """Claim up to `room.batch` messages, shared between the `ready` channels (in the order given, which the
    caller rotates so that none is always last), none past its own room. Returns the jobs, interleaved
    across channels so the workers take them in turn, and how many rows left the ready set."""
    pacer.prune(now)
    per_channel: list[list[Job]] = []
    claimed = 0
    share = max(1, room.batch // max(1, len(ready)))
    for channel in ready:
        limit = min(share, effective_rate(channel.rate_limit_per_second), room.for_channel(channel.id))
        if limit <= 0:
            continue
        rows = outbox_store.claim_ready(conn, channel.id, now, limit)
        if not rows:
            continue
        claimed += len(rows)
        secrets = cache.secrets_of(conn, ctx.box, channel.id)
        jobs: list[Job] = []
        for message, session in rows:
            reason = skip_reason(message, session, channel.policy, now)
            if reason is not None:
                record_skip(conn, channel, message, session, reason, now)
                report.skipped += 1
                metrics.send_outcome(message.kind, "skipped")
                continue
            to, recipient = session.send_address()
            later = pacer.take(pacer_key(channel.id, to, recipient), now)
            if later is not None:
                message_store.update_message(conn, message.id, next_attempt_at=later)
                report.deferred += 1
                continue
            jobs.append(Job(message, channel, secrets, to, recipient, now))
        outbox_store.mark_sending(conn, [j.message for j in jobs], now)
        per_channel.append(jobs)
    out: list[Job] = []
    for i in range(max((len(j) for j in per_channel), default=0)):
        out.extend(jobs[i] for jobs in per_channel if i < len(jobs))
    return out, claimed


def skip_reason(message: MessageRow, session: SessionCheck, policy: Policy, now: datetime) -> str | None:
    """Why this message must not go out now, or None."""
    if message.kind != MessageKind.REMINDER:
        if message.kind == MessageKind.AGENT and not session.window_open(now):
            return "window_closed"
        return None
    # R6, checked again at the moment of sending: the claim may have waited on rate limits.
    assert message.silence_t is not None
    return reminder_skip_reason(
        now=now,
        policy=policy,
        session_active=session.active,
        last_customer_at=session.last_customer_at,
        silence_started_at=message.silence_t,
        window_closes_at=session.window_closes_at,
        awaiting=session.awaiting,
    )

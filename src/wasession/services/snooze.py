"""Snooze (issue 13): an agent puts a session aside until a time. While snoozed nothing is automatic:
no reminder step and no closure; a customer message wakes it, and on waking the timeout counts again
from the wake time. The API, the dashboard and the Simulator all call these two functions."""

from __future__ import annotations

from datetime import datetime, timedelta

from wasession.domain import transitions
from wasession.domain.clock import parse_instant
from wasession.domain.durations import parse_duration
from wasession.domain.plan import is_snoozed
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.services.agents import agent_session
from wasession.services.errors import ConflictError, ValidationError

MAX_SNOOZE = timedelta(days=30)


def snooze_until(value: object, now: datetime) -> datetime:
    """`until` as an ISO 8601 instant with its offset, or a duration from now ("2h", "PT30M")."""
    until: datetime | None = None
    if isinstance(value, datetime | str) and value:
        try:
            until = parse_instant(value)
        except ValueError:
            try:
                until = now + parse_duration(value, field="until") if isinstance(value, str) else None
            except ValueError:
                until = None
    if until is None:
        shown = "empty" if value in (None, "") else repr(value)
        raise ValidationError(
            "until",
            f"until must be a date and time with its offset (like 2026-01-05T09:00:00Z) or a duration from now "
            f"(like 2h); it was {shown}",
            code="invalid_type",
        )
    if not now < until <= now + MAX_SNOOZE:
        raise ValidationError(
            "until", f"until must be after now and at most 30 days ahead; it was {until.isoformat()}", "out_of_range"
        )
    return until


def snooze(ctx: ServiceContext, session_id: int, until: object, *, workspace_id: int | None = None) -> datetime:
    """Snooze an active session until `until` (a later snooze replaces an earlier one); returns the end."""
    now = ctx.clock.now()
    when = snooze_until(until, now)
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        if not session.active:
            raise ConflictError(f"session {session_id} is closed; only an active session can be snoozed", "not_active")
        change = transitions.snoozed(session_writes.state_of(session), until=when, policy=channel.policy, now=now)
        session_writes.apply(conn, channel, session.id, change)
    ctx.wake()
    return when


def wake(ctx: ServiceContext, session_id: int, *, workspace_id: int | None = None) -> None:
    """End a snooze early; a session that is not snoozed is left as it is."""
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        session, channel = agent_session(conn, session_id, workspace_id)
        if not session.active or not is_snoozed(session.snoozed_until, now):
            return
        change = transitions.woke(session_writes.state_of(session), policy=channel.policy, now=now, early=True)
        session_writes.apply(conn, channel, session.id, change)
    ctx.wake()

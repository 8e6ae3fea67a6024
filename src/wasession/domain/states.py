"""The lifecycle's vocabulary and its one reminder gate (docs/rules.md R6, R13, R15).

States are `StrEnum`s whose values are the strings stored in the database, so a member compares equal
to what a row holds and nothing stored changes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from wasession.domain.policy import Policy
from wasession.domain.pricing import MONTHLY_BUDGET, monthly_cap_reason
from wasession.domain.schedule import REMINDER_MIN_SPARE, check_reminder
from wasession.domain.template import MAX_TEXT_LENGTH, render_template


class SessionStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class CloseReason(StrEnum):
    TIMEOUT = "timeout"  # R9
    AGENT = "agent"  # R13: closed by hand
    CLOSED_IN_CHATWOOT = "closed_in_chatwoot"  # issue 22: an agent resolved the conversation in Chatwoot


class Awaiting(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"


class DueKind(StrEnum):
    REMIND = "remind"
    CLOSE = "close"
    WAKE = "wake"  # a snooze ends


class ReminderState(StrEnum):
    """Where this silence's reminder stands (at most one per silence, R6)."""

    NEW = "new"  # the customer just wrote: `plan` decides pending or none
    NONE = "none"
    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    MISSED = "missed"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    TEMPLATE = "template"
    REMINDER = "reminder"
    CLOSING = "closing"  # the closing message or template of a timeout closure (issue 13): automated


class MessageStatus(StrEnum):
    """An outbound message's delivery state; statuses only move forward (R15)."""

    RECEIVED = "received"  # inbound
    PENDING = "pending"
    SENDING = "sending"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


def reminder_skip_reason(
    *,
    now: datetime,
    policy: Policy,
    session_active: bool,
    last_customer_at: datetime,
    silence_started_at: datetime,
    window_closes_at: datetime,
    awaiting: Awaiting | None = None,
    automated_this_month: int | None = None,
    over_budget: bool = False,
) -> str | None:
    """R6 at the moment a reminder would go out, for the due worker (queueing) and the sender (sending)
    alike: None to send, else the reason it is skipped. `window_closes_at` is the session's stored close,
    which a 131047 failure may have moved before T + 24 h. `automated_this_month`, given where an automated
    send is queued, is the channel's count for the cap (R23); None skips that check. Each further
    condition is one more clause."""
    check = check_reminder(
        now=now,
        policy=policy,
        session_active=session_active,
        last_customer_at=last_customer_at,
        silence_started_at=silence_started_at,
        reminder_already_handled=False,
    )
    if not check.send:
        return check.reason
    if window_closes_at - now < REMINDER_MIN_SPARE:
        return "window_closed"  # closed early by a 131047 failure
    if policy.reminder_only_when_awaiting_customer and awaiting is not None and awaiting != Awaiting.CUSTOMER:
        return "awaiting_agent"  # the customer waits for us; "still there?" would be rude
    if not policy.business_hours.is_open(now, policy.timezone):
        return "outside_business_hours"
    if automated_this_month is not None and (
        capped := monthly_cap_reason(policy.automated_monthly_cap, automated_this_month)
    ):
        return capped
    if over_budget:
        return MONTHLY_BUDGET
    return None


def render_closing(policy: Policy, merge_values: dict[str, str]) -> tuple[str, str | None]:
    """The closing message's text for these contact values, and why it cannot be sent (None if it can)."""
    text = render_template(policy.closing_message, {**merge_values, "company_name": policy.company_name})
    if not text.strip():
        return text, "rendered_empty"
    if len(text) > MAX_TEXT_LENGTH:
        return text, "rendered_too_long"
    return text, None


def render_reminder(policy: Policy, merge_values: dict[str, str], step: int = 1) -> tuple[str, str | None]:
    """R7: ladder step `step`'s text for these contact values, and why it cannot be sent (None if it can)."""
    text = render_template(policy.step_template(step), {**merge_values, "company_name": policy.company_name})
    if not text.strip():
        return text, "rendered_empty"
    if len(text) > MAX_TEXT_LENGTH:
        return text, "rendered_too_long"
    return text, None

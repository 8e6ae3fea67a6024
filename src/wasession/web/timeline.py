"""The session page read by a person: a timeline with one line per thing that happened, transcript
bubbles with delivery ticks and failure reasons in words, times in the channel's zone.

A message's delivery statuses (accepted, sent, delivered, read) are not lines of their own: they
move the tick on the line of the message they describe. Technical ids (wamids, message ids) go to a
disclosure; a value that is absent is left out, never shown as `None`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol

from wasession.domain.plan import ReminderStatus
from wasession.domain.states import MessageKind, MessageStatus
from wasession.web.render import TEMPLATES, formatted
from wasession.whatsapp.reasons import MAYBE_SENT, in_words


class Event(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


class MessageRow(Protocol):
    """The transcript row's fields this module reads (faces never import the store's own types)."""

    @property
    def id(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def next_attempt_at(self) -> datetime | None: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def error_title(self) -> str | None: ...
    @property
    def error_detail(self) -> str | None: ...


# Status -> (tick, words for screen readers and the tooltip, css class).
TICKS: dict[str, tuple[str, str, str]] = {
    MessageStatus.PENDING: ("🕓", "waiting to be sent", "tick-wait"),
    MessageStatus.SENDING: ("🕓", "sending", "tick-wait"),
    MessageStatus.ACCEPTED: ("✓", "accepted by WhatsApp", "tick-sent"),
    MessageStatus.SENT: ("✓", "sent", "tick-sent"),
    MessageStatus.DELIVERED: ("✓✓", "delivered", "tick-delivered"),
    MessageStatus.READ: ("✓✓", "read", "tick-read"),
    MessageStatus.PLAYED: ("✓✓", "played", "tick-read"),
    MessageStatus.FAILED: ("✗", "failed", "tick-failed"),
    MessageStatus.UNKNOWN: ("?", "outcome unknown", "tick-failed"),
    MessageStatus.SKIPPED: ("–", "not sent", "tick-wait"),
}
TECHNICAL = frozenset({"wamid", "message_id", "resent_from", "contact_id", "fbtrace_id"})
FOLDED = ("accepted", "sent", "delivered", "read", "played")
ORIGINS = frozenset({"agent_message", "agent_template", "reminder_queued"})

SENTENCES: dict[str, str] = {
    "session_opened": "Session opened by a customer message",
    "customer_message": "Customer wrote",
    "customer_reaction": "Customer reacted to a message",
    "customer_revoke": "Customer deleted a message",
    "customer_deleted": "Customer deleted a message",
    "customer_system": "WhatsApp system message",
    "window_closed": "WhatsApp closed the 24-hour window early",
    "session_closed": "Session closed",
    "reminder_queued": "Reminder queued",
    "reminder_skipped": "Reminder not sent",
    "reminder_cancelled": "Reminder cancelled",
    "reminder_held": "Reminder held: the channel's sending is paused",
    "reminder_retry": "Reminder not sent yet, will retry",
    "reminder_unknown": "Reminder outcome unknown",
    "reminder_failed": "Reminder failed",
    "agent_message": "Agent replied",
    "agent_template": "Agent sent a template",
    "message_skipped": "Reply not sent",
    "message_held": "Reply held: the channel's sending is paused",
    "message_retry": "Reply not sent yet, will retry",
    "message_unknown": "Reply outcome unknown",
    "message_failed": "Reply failed",
    "message_resent": "Agent resent a failed message",
    "policy_changed": "Session policy changed",
    "session_replanned": "A settings change moved this chat's times",
    "contact_rekeyed": "Customer changed number",
    "session_reopened": "Session reopened",
    "session_snoozed": "Snoozed",
    "session_woke": "Snooze ended",
    "closing_message_queued": "Closing message queued",
    "closing_message_skipped": "Closing message not sent",
    "free_window_opened": "Meta opened a free entry point window",
    "session_assigned": "Assigned",
}
REASONS: dict[str, str] = {
    "timeout": "after the timeout",
    "agent": "by an agent",
    "customer_replied": "the customer wrote first",
    "window_closed": "the 24-hour window is over",
    "window_closing": "less than 5 minutes of window left",
    "disabled": "reminders are off",
    "reminders_disabled": "reminders were turned off",
    "not_active": "the session is closed",
    "session_closed": "the session closed first",
    "channel_paused": "the channel's sending is paused",
    "monthly_cap": "the channel's monthly cap for automated sends is used up",
    "outside_business_hours": "outside business hours",
    "awaiting_agent": "the customer is waiting for an agent",
    "superseded": "a later step went out instead",
    "closes_first": "the session closes before it is due",
}


@dataclass
class Line:
    at: datetime
    text: str
    tone: str = ""
    tick: tuple[str, str, str] | None = None
    details: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None  # a private note's text (issue 23): shown on the timeline, never sent


def reminder_words(status: ReminderStatus, zone: tzinfo) -> str:
    """The reminder's status in words, the same on the chat list and the session page (issue 23)."""
    if status.state == "scheduled":
        words = f"step {status.step} at {local_time(status.at, zone)}"
        return words + (" (outside business hours: it will be skipped)" if status.reason else "")
    if status.state == "snoozed":
        return f"step {status.step} skipped: snoozed until {local_time(status.at, zone)}"
    words = "none scheduled" if status.state == "none" else status.state
    if status.reason:
        words += f" ({REASONS.get(status.reason, status.reason.replace('_', ' '))})"
    return words


TEMPLATES.env.filters["reminder"] = reminder_words


def local_time(value: datetime | None, zone: tzinfo, *, seconds: bool = False) -> str:
    """A time as every dashboard page shows it, zone named (`render.formatted`); an absent time is a dash."""
    return formatted(value, zone, seconds=seconds) if value is not None else "—"


def lines(events: Iterable[Event], zone: tzinfo) -> list[Line]:
    out: list[Line] = []
    by_message: dict[int, Line] = {}
    retried: dict[int, tuple[Line, int]] = {}  # a message's retry line and how many tries it stands for
    for e in events:
        kind, _, what = str(e.type).partition("_")
        message_id = e.data.get("message_id")
        if what == "retry" and isinstance(message_id, int) and message_id in retried:
            # One line for a send's retries (issue 23): the count and the latest reason, not a line a try.
            line, tries = retried[message_id]
            retried[message_id] = (line, tries + 1)
            line.text = f"{_sentence(e, zone)} (tried {tries + 1} times)"
            continue
        if kind in ("message", "reminder") and what in FOLDED and message_id in by_message:
            origin = by_message[message_id]
            origin.tick = TICKS.get(what)
            wamid = e.data.get("wamid")
            if wamid is not None and ("wamid", str(wamid)) not in origin.details:
                origin.details.append(("wamid", str(wamid)))
            continue
        line = Line(at=e.at, text=_sentence(e, zone), tone=_tone(str(e.type)), details=_details(e.data))
        if str(e.type) in ORIGINS and isinstance(message_id, int):
            line.tick = TICKS[MessageStatus.PENDING]
            by_message[message_id] = line
        elif what in ("failed", "unknown") and message_id in by_message:
            by_message[message_id].tick = TICKS[MessageStatus(what)]
        if what == "retry" and isinstance(message_id, int):
            retried[message_id] = (line, 1)
        out.append(line)
    return out


def _sentence(e: Event, zone: tzinfo) -> str:
    t, d = str(e.type), e.data
    text = SENTENCES.get(t) or t.replace("_", " ").capitalize()
    if t.endswith("_failed") and t != "window_closed":
        return f"{text}: {in_words(d.get('error_code'), None, None)}"
    if t.endswith("_retry") and d.get("delay_seconds") is not None:
        why = in_words(d.get("error_code"), "RequestNotSentError")
        return f"{text} in {_seconds(float(d['delay_seconds']))}: {why}"
    if t.endswith("_unknown"):
        return f"{text}: {MAYBE_SENT}"
    if t == "agent_template" and d.get("name"):
        return f"{text}: {d['name']} ({d.get('language', '')})"
    if t == "session_replanned":
        return _replanned(text, d, zone)
    if t == "session_reopened" and d.get("by"):
        text += " by the customer" if d["by"] == "customer" else " by an agent"
    if t == "session_assigned":
        by = f" by {d['by']}" if d.get("by") else ""
        return f"Assigned to {d['assignee']}{by}" if d.get("assignee") else f"Unassigned{by}"
    if t == "session_snoozed" and d.get("until"):
        return f"{text} until {local_time(_instant(d['until']), zone)}"
    reason = d.get("reason")
    if isinstance(reason, str):
        text += f" ({REASONS.get(reason, reason.replace('_', ' '))})"
    if t == "customer_message" and d.get("late"):
        text += " (an older message, delivered late; no times moved)"
    elif d.get("closes_at"):
        text += f"; closes {local_time(_instant(d['closes_at']), zone)}"
    return text


def _replanned(text: str, d: Mapping[str, Any], zone: tzinfo) -> str:
    if d.get("closes_now"):
        return f"{text}: it closes now"
    parts = []
    if d.get("closes_at") != d.get("closes_at_before"):
        parts.append(f"closes {local_time(_instant(d.get('closes_at')), zone)}")
    if d.get("reminder_due_at") != d.get("reminder_due_before"):
        due = _instant(d.get("reminder_due_at"))
        parts.append(f"reminder {local_time(due, zone)}" if due else "no reminder")
    return f"{text}: {', '.join(parts)}" if parts else text


def _tone(t: str) -> str:
    if t.endswith(("_failed", "_unknown")) or t == "window_closed":
        return "error"
    if t.endswith(("_retry", "_held", "_skipped", "_cancelled")):
        return "warn"
    return ""


def _details(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in data.items() if k in TECHNICAL and v is not None]


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Bubble:
    """One transcript message as the agent reads it."""

    message: MessageRow
    tick: tuple[str, str, str] | None
    problem: str | None  # why it did not (or may not) arrive, in words
    retry_at: str | None  # when the next attempt is, for a message waiting after a failed try
    resend: str | None  # "safe" or "maybe_sent" when a resend button belongs here


def bubbles(transcript: Iterable[MessageRow], resent: set[int], zone: tzinfo) -> list[Bubble]:
    return [_bubble(m, m.id in resent, zone) for m in transcript]


def _bubble(m: MessageRow, resent: bool, zone: tzinfo) -> Bubble:
    if m.direction != "out":
        return Bubble(m, None, None, None, None)
    problem = retry_at = resend = None
    if m.status == MessageStatus.FAILED:
        problem = in_words(m.error_code, m.error_title, m.error_detail)
        resend = "safe"
    elif m.status == MessageStatus.UNKNOWN:
        problem = MAYBE_SENT
        resend = "maybe_sent"
    elif m.status == MessageStatus.SKIPPED:
        problem = f"Not sent: {REASONS.get(m.error_detail or '', (m.error_detail or 'skipped').replace('_', ' '))}."
    elif m.status == MessageStatus.PENDING and m.attempts and m.next_attempt_at is not None:
        problem = in_words(m.error_code, m.error_title, m.error_detail)
        retry_at = local_time(m.next_attempt_at, zone, seconds=True)
    if resent or m.kind not in (MessageKind.AGENT, MessageKind.TEMPLATE):
        resend = None
    return Bubble(m, TICKS.get(m.status), problem, retry_at, resend)

"""Every event type a timeline can hold (R16), as one closed set: the public contract of event webhooks.

The values are the strings stored in `events.type` and sent as `type` in outbound event webhooks, so
they never change; `docs/events.md` describes each one, and a test keeps the two in step. Some types
are composed at the call site from a prefix and a status, reason or WhatsApp kind; the `for_*`
helpers build those and refuse any combination that is not a member, naming the part that is unknown.
"""

from __future__ import annotations

from enum import StrEnum

# Outbound message kinds as the messages table stores them; agent and template sends share the
# `message_` prefix, reminders have their own.
_MESSAGE_KINDS = frozenset({"agent", "template", "reminder", "closing"})


class EventType(StrEnum):
    # -- a session's life (R1, R5, R9, R12, R13) ------------------------------------------------------
    SESSION_OPENED = "session_opened"
    SESSION_CLOSED = "session_closed"
    SESSION_REOPENED = "session_reopened"
    WINDOW_CLOSED = "window_closed"
    SESSION_REPLANNED = "session_replanned"
    # -- policy v2 (issue 13): snooze, reopen and the closing message ------------------------------
    SESSION_SNOOZED = "session_snoozed"
    SESSION_WOKE = "session_woke"
    CLOSING_MESSAGE_QUEUED = "closing_message_queued"
    CLOSING_MESSAGE_SKIPPED = "closing_message_skipped"
    # -- a team (issue 23): who the chat is assigned to ----------------------------------------------
    SESSION_ASSIGNED = "session_assigned"

    # -- what the customer sent (R2–R5) ---------------------------------------------------------------
    CUSTOMER_MESSAGE = "customer_message"
    CUSTOMER_REACTION = "customer_reaction"
    CUSTOMER_REVOKE = "customer_revoke"
    CUSTOMER_DELETED = "customer_deleted"
    CUSTOMER_SYSTEM = "customer_system"
    MESSAGE_WITHOUT_SESSION = "message_without_session"
    CONTACT_REKEYED = "contact_rekeyed"

    # -- the reminder (R6, R7, R11, R14, R15) ---------------------------------------------------------
    REMINDER_QUEUED = "reminder_queued"
    REMINDER_SKIPPED = "reminder_skipped"
    REMINDER_CANCELLED = "reminder_cancelled"
    REMINDER_ACCEPTED = "reminder_accepted"
    REMINDER_HELD = "reminder_held"
    REMINDER_RETRY = "reminder_retry"
    REMINDER_UNKNOWN = "reminder_unknown"
    REMINDER_FAILED = "reminder_failed"
    REMINDER_SENT = "reminder_sent"
    REMINDER_DELIVERED = "reminder_delivered"
    REMINDER_READ = "reminder_read"
    REMINDER_PLAYED = "reminder_played"

    # -- agent replies and templates (R13, R15) -------------------------------------------------------
    AGENT_MESSAGE = "agent_message"
    AGENT_TEMPLATE = "agent_template"
    MESSAGE_SKIPPED = "message_skipped"
    MESSAGE_ACCEPTED = "message_accepted"
    MESSAGE_HELD = "message_held"
    MESSAGE_RETRY = "message_retry"
    MESSAGE_UNKNOWN = "message_unknown"
    MESSAGE_FAILED = "message_failed"
    MESSAGE_SENT = "message_sent"
    MESSAGE_DELIVERED = "message_delivered"
    MESSAGE_READ = "message_read"
    MESSAGE_PLAYED = "message_played"
    MESSAGE_RESENT = "message_resent"

    # -- the channel (R11 and administration) ---------------------------------------------------------
    CHANNEL_CREATED = "channel_created"
    CHANNEL_UPDATED = "channel_updated"
    CHANNEL_DELETED = "channel_deleted"
    CHANNEL_CREDENTIALS_UPDATED = "channel_credentials_updated"
    CHANNEL_PAUSED = "channel_paused"
    CHANNEL_RESUMED = "channel_resumed"
    POLICY_CHANGED = "policy_changed"

    # -- Meta's own word on windows (R23) -------------------------------------------------------------
    FREE_WINDOW_OPENED = "free_window_opened"
    # -- a contact's marketing state (R24) ------------------------------------------------------------
    MARKETING_PREFERENCE = "marketing_preference"

    # -- webhook updates that are not a customer message or a status of ours -------------------------
    WEBHOOK_MALFORMED = "webhook_malformed"
    WEBHOOK_ERROR = "webhook_error"
    WEBHOOK_MESSAGE_ECHO = "webhook_message_echo"
    WEBHOOK_CALL_CONNECT = "webhook_call_connect"
    WEBHOOK_CALL_TERMINATE = "webhook_call_terminate"
    WEBHOOK_CALL_EVENT = "webhook_call_event"
    WEBHOOK_CALL_STATUS = "webhook_call_status"
    # A change of one of these subscription fields that carries no message, status, echo or error.
    WEBHOOK_ACCOUNT_ALERTS = "webhook_account_alerts"
    WEBHOOK_ACCOUNT_REVIEW_UPDATE = "webhook_account_review_update"
    WEBHOOK_ACCOUNT_SETTINGS_UPDATE = "webhook_account_settings_update"
    WEBHOOK_ACCOUNT_UPDATE = "webhook_account_update"
    WEBHOOK_AUTOMATIC_EVENTS = "webhook_automatic_events"
    WEBHOOK_BUSINESS_CAPABILITY_UPDATE = "webhook_business_capability_update"
    WEBHOOK_BUSINESS_STATUS_UPDATE = "webhook_business_status_update"
    WEBHOOK_CALLS = "webhook_calls"
    WEBHOOK_FLOWS = "webhook_flows"
    WEBHOOK_GROUP_LIFECYCLE_UPDATE = "webhook_group_lifecycle_update"
    WEBHOOK_GROUP_PARTICIPANTS_UPDATE = "webhook_group_participants_update"
    WEBHOOK_GROUP_SETTINGS_UPDATE = "webhook_group_settings_update"
    WEBHOOK_GROUP_STATUS_UPDATE = "webhook_group_status_update"
    WEBHOOK_HISTORY = "webhook_history"
    WEBHOOK_MESSAGE_ECHOES = "webhook_message_echoes"
    WEBHOOK_MESSAGE_TEMPLATE_COMPONENTS_UPDATE = "webhook_message_template_components_update"
    WEBHOOK_MESSAGE_TEMPLATE_QUALITY_UPDATE = "webhook_message_template_quality_update"
    WEBHOOK_MESSAGE_TEMPLATE_STATUS_UPDATE = "webhook_message_template_status_update"
    WEBHOOK_MESSAGES = "webhook_messages"
    WEBHOOK_PARTNER_SOLUTIONS = "webhook_partner_solutions"
    WEBHOOK_PAYMENT_CONFIGURATION_UPDATE = "webhook_payment_configuration_update"
    WEBHOOK_PHONE_NUMBER_NAME_UPDATE = "webhook_phone_number_name_update"
    WEBHOOK_PHONE_NUMBER_QUALITY_UPDATE = "webhook_phone_number_quality_update"
    WEBHOOK_SECURITY = "webhook_security"
    WEBHOOK_SMB_APP_STATE_SYNC = "webhook_smb_app_state_sync"
    WEBHOOK_SMB_MESSAGE_ECHOES = "webhook_smb_message_echoes"
    WEBHOOK_TEMPLATE_CATEGORY_UPDATE = "webhook_template_category_update"
    WEBHOOK_TRACKING_EVENTS = "webhook_tracking_events"
    WEBHOOK_USER_PREFERENCES = "webhook_user_preferences"
    # A subscription field or call event Meta added after the list above; `data.kind` names it.
    WEBHOOK_UNHANDLED = "webhook_unhandled"

    @classmethod
    def parse(cls, value: str) -> EventType:
        """The member whose value is `value`; ValueError naming it otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown event type {value!r}: not an EventType (see docs/events.md)") from None

    @classmethod
    def _composed(cls, value: str, part: str, what: str) -> EventType:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {what} {part!r}: no event type {value!r}") from None

    @classmethod
    def for_status(cls, kind: str, status: str) -> EventType:
        """`<prefix>_<status>` for an outbound message of `kind` (reminder, agent, template):
        send outcomes (accepted, held, retry, unknown, failed, skipped) and delivery statuses
        (sent, delivered, read, played)."""
        return cls._composed(f"{_prefix(kind)}_{status}", status, "message status")

    @classmethod
    def for_skip(cls, kind: str) -> EventType:
        """The event of an outbound message of `kind` dropped before sending."""
        return cls._composed(f"{_prefix(kind)}_skipped", kind, "message kind")

    @classmethod
    def for_customer_non_counting(cls, msg_type: str) -> EventType:
        """`customer_<type>` for an inbound message that does not open the window (R2)."""
        return cls._composed(f"customer_{msg_type}", msg_type, "non-counting message type")

    @classmethod
    def for_other_webhook(cls, kind: str) -> EventType:
        """`webhook_<kind>` for a webhook update that is neither a customer message nor a status."""
        return cls._composed(f"webhook_{kind}", kind, "webhook update kind")


def other_webhook_event(kind: str) -> tuple[EventType, dict[str, str]]:
    """The event for a webhook update of `kind`, and the data it adds beyond `field`.

    The kind comes from Meta (a subscription field, a call event), so new ones appear without notice:
    they are recorded as WEBHOOK_UNHANDLED naming the kind, never refused, because a refused event
    would fail the whole body, customer messages included.
    """
    try:
        return EventType.for_other_webhook(kind), {}
    except ValueError:
        return EventType.WEBHOOK_UNHANDLED, {"kind": kind}


def _prefix(kind: str) -> str:
    if kind not in _MESSAGE_KINDS:
        raise ValueError(f"unknown message kind {kind!r}: expected one of {', '.join(sorted(_MESSAGE_KINDS))}")
    return "reminder" if kind == "reminder" else "message"

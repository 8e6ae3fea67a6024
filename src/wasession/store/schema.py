"""Tables. Alembic migrations in `migrations/versions` create exactly these; a test checks they agree."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from wasession.domain.pricing import AUTOMATED_KINDS
from wasession.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Literal, not bound: SQLite uses a partial index only for a query whose WHERE repeats its predicate.
AUTOMATED_SQL = "kind IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(AUTOMATED_KINDS)))

# SQLite maps BigInteger to a column that is not a rowid alias, so autoincrement ids stay Integer there.
Id = BigInteger().with_variant(Integer(), "sqlite")

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),  # shown in lists so a key can be recognised
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("username", String(200), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

event_webhooks = Table(
    "event_webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret_enc", Text, nullable=False),
    Column("description", String(500), nullable=False, server_default=""),
    Column("event_types", JSON, nullable=True),  # NULL: every event type
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
)

event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("webhook_id", Id, ForeignKey("event_webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Id, ForeignKey("events.id", ondelete="CASCADE"), nullable=True),  # NULL: a test send
    # NULL for an event's delivery: the body is built from the event row when it is sent (store/events.py
    # writes the row in the event's own transaction, so it stays small); a test send stores its own.
    Column("payload", JSON, nullable=True),
    Column("status", String(16), nullable=False),  # pending | delivering | delivered | failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_event_deliveries_due", "status", "next_attempt_at"),
    Index("ix_event_deliveries_webhook", "webhook_id", "id"),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone_number_id", String(64), nullable=False, unique=True),
    Column("display_phone_number", String(32), nullable=False, server_default=""),
    # Secrets are Fernet-encrypted with the instance key (store/secrets.py); never returned.
    Column("access_token_enc", Text, nullable=False),
    Column("app_secret_enc", Text, nullable=False),
    Column("verify_token_enc", Text, nullable=False),
    Column("sandbox", Boolean, nullable=False, server_default=text("false")),
    Column("graph_base_url", String(500), nullable=True),
    Column("graph_version", String(16), nullable=True),
    Column("rate_limit_per_second", Integer, nullable=False, server_default=text("80")),
    Column("policy", JSON, nullable=False),
    Column("policy_updated_at", UTCDateTime, nullable=False),
    Column("sending_paused_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("wa_id", String(64), nullable=True),
    Column("user_id", String(128), nullable=True),
    Column("parent_user_id", String(128), nullable=True),
    Column("profile_name", String(256), nullable=True),
    Column("username", String(128), nullable=True),
    # NULL means "not set through the API": the profile name supplies the default.
    Column("first_name", String(128), nullable=True),
    Column("last_name", String(128), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("workspace_id", "wa_id"),
    UniqueConstraint("workspace_id", "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # active | closed
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("close_reason", String(32), nullable=True),  # timeout | agent | window_closed
    Column("last_customer_at", UTCDateTime, nullable=False),  # T (R2, R3, R5)
    Column("last_message_at", UTCDateTime, nullable=False),
    Column("awaiting", String(16), nullable=False, server_default="agent"),  # agent | customer
    Column("window_closes_at", UTCDateTime, nullable=False),
    Column("window_closed_early_at", UTCDateTime, nullable=True),  # set by a 131047 failure (R15)
    Column("eligible_at", UTCDateTime, nullable=False),
    Column("closes_at", UTCDateTime, nullable=False),
    # Reminder of the current silence (the one that began at last_customer_at).
    Column("reminder_state", String(16), nullable=False, server_default="none"),
    Column("reminder_due_at", UTCDateTime, nullable=True),
    Column("reminder_reason", String(64), nullable=True),
    # Next engine action; NULL once closed. The engine reads only rows with due_at <= now.
    Column("due_at", UTCDateTime, nullable=True),
    Column("due_kind", String(16), nullable=True),  # remind | close
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(64), nullable=True),
    # Policy v2 (issue 13): the ladder step reminder_state is about, and when a snooze ends.
    Column("reminder_step", Integer, nullable=False, server_default=text("1")),
    Column("snoozed_until", UTCDateTime, nullable=True),
    Index("ix_sessions_due_at", "due_at"),
    Index(
        "uq_sessions_one_active",
        "channel_id",
        "contact_id",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
    Index("ix_sessions_channel_status", "channel_id", "status", "last_customer_at"),
    Index("ix_sessions_contact", "contact_id"),
    Index("ix_sessions_status_window", "status", "window_closes_at", "id"),  # the chat list's default order
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),  # in | out
    Column("kind", String(16), nullable=False),  # customer | agent | reminder | template
    Column("wamid", String(255), nullable=True),
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=True),
    Column("payload", JSON, nullable=True),
    Column("sent_at", UTCDateTime, nullable=False),  # WhatsApp timestamp (in) / creation time (out)
    Column("created_at", UTCDateTime, nullable=False),
    # Outbound delivery: pending -> sending -> sent -> delivered -> read; failed, unknown, skipped final.
    Column("status", String(16), nullable=False),
    Column("status_at", UTCDateTime, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_title", Text, nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("callback_data", String(512), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("silence_t", UTCDateTime, nullable=True),  # the T a reminder belongs to
    Column("author", String(200), nullable=True),  # who wrote an agent message: the dashboard user (issue 23)
    UniqueConstraint("channel_id", "wamid"),
    Index("ix_messages_session", "session_id", "sent_at"),
    Index("ix_messages_outbox", "status", "next_attempt_at"),
    Index("ix_messages_channel_outbox", "channel_id", "status", "next_attempt_at"),
    # The monthly cap counts a channel's automated sends (R23); partial, so other messages pay nothing.
    Index(
        "ix_messages_automated",
        "channel_id",
        "sent_at",
        sqlite_where=text(AUTOMATED_SQL),
        postgresql_where=text(AUTOMATED_SQL),
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=True),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True),
    Column("type", String(48), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_events_session", "session_id", "id"),
    Index("ix_events_workspace", "workspace_id", "id"),
    # Ids never repeat, even after the newest events are deleted (a channel's deletion cascades to its
    # events): receivers dedupe on the event id. PostgreSQL sequences never go back anyway.
    sqlite_autoincrement=True,
)

# On SQLite this table lives in a file of its own beside the database (store/db.py `log_file_path`,
# migration 0013), so the ack never waits for the apply's write lock; on PostgreSQL it is a table here.
# Nothing references it by foreign key: relay targets and deliveries hold its ids as plain numbers.
webhook_log = Table(
    "webhook_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
    # The X-Hub-Signature-256 it came with: re-processing verifies each change again (store/webhook_log.py).
    Column("signature", Text, nullable=True),
    # A replay of the same bytes within the retention period is stored once.
    Column("body_sha256", String(64), nullable=True, unique=True),
    Column("outcome", JSON, nullable=True),
    Column("unroutable", Boolean, nullable=False, server_default=text("false")),
    Column("failed", Boolean, nullable=False, server_default=text("false")),
    # What the body carries, told by the ack (store/webhook_log.py KIND_*): the apply claims customer
    # messages ahead of bodies holding only statuses of our own sends (docs/decisions/0006).
    Column("kind", Integer, nullable=False, server_default=text("0")),
    Index("ix_webhook_log_unprocessed", "processed_at", "kind", "id"),
    Index("ix_webhook_log_unroutable", "unroutable", "id"),
    # Relay targets follow the log by id (store/forwards.py): an id must never be handed out twice.
    sqlite_autoincrement=True,
)

# The webhook relay (issue 16): targets follow webhook_log by id, so accepting a body writes nothing here.
relay_targets = Table(
    "relay_targets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret_enc", Text, nullable=True),  # NULL: Meta's own X-Hub-Signature-256 is passed on
    Column("fields", JSON, nullable=False),  # which kinds of change it is given (services/forwards.py)
    Column("description", String(500), nullable=False, server_default=""),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    # The last webhook_log id delivered, skipped or given up; bodies after it are due in id order.
    Column("cursor", BigInteger, nullable=False, server_default=text("0")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),  # failed tries of the body after it
    Column("next_attempt_at", UTCDateTime, nullable=True),  # NULL: due as soon as a body follows the cursor
    Column("lease_owner", String(200), nullable=True),  # the process delivering it now (one at a time)
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_relay_targets_channel", "channel_id", "id"),
)

relay_deliveries = Table(
    "relay_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target_id", Id, ForeignKey("relay_targets.id", ondelete="CASCADE"), nullable=False),
    Column("log_id", BigInteger, nullable=False),  # no foreign key: the log is pruned, the attempts stay
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | failed | given_up
    Column("status_code", Integer, nullable=True),
    Column("error", String(64), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_relay_deliveries_target", "target_id", "id"),
)

# What Meta's status webhooks said an outbound message cost and which conversation it fell in
# (docs/rules.md R23), merged across its statuses by domain/pricing.py.
message_pricing = Table(
    "message_pricing",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("pricing_model", String(64), nullable=True),
    Column("category", String(64), nullable=True),
    Column("pricing_type", String(64), nullable=True),
    Column("billable", Boolean, nullable=True),
    Column("conversation_id", String(128), nullable=True),
    Column("origin_type", String(64), nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("status_order", Integer, nullable=False),  # the latest status that wrote a field
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_message_pricing_session", "session_id"),
    Index("ix_message_pricing_channel", "channel_id"),
)

# The first referral (Click-to-WhatsApp ad, Facebook Page button) a session's customer came with.
session_referrals = Table(
    "session_referrals",
    metadata,
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("wamid", String(255), nullable=False),
    Column("referral", JSON, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# When each dashboard user last opened each chat: a chat is unread for them while its last customer
# message is newer (or they never opened it).
chat_reads = Table(
    "chat_reads",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("read_at", UTCDateTime, nullable=False),
    Index("ix_chat_reads_session", "session_id"),
)

# Issue 15: the approved templates of a channel's WhatsApp Business Account, fetched from Graph on demand.
template_sources = Table(
    "template_sources",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("waba_id", String(64), nullable=False),
    Column("fetched_at", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
)

message_templates = Table(
    "message_templates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("language", String(16), nullable=False),
    Column("category", String(32), nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("channel_id", "name", "language"),
)

# Issue 26: a workspace's rate card (docs/rules.md R23), rows of (calling code, category, price as text).
rate_cards = Table(
    "rate_cards",
    metadata,
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("rates", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Issue 26: a contact's marketing opt-out (user_preferences stop, error 131050) and 131049 deferral.
contact_marketing = Table(
    "contact_marketing",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("opted_out_at", UTCDateTime, nullable=True),
    Column("opt_out_source", String(32), nullable=True),
    Column("deferred_until", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Chatwoot connections (issue 22): one Chatwoot account + WhatsApp inbox per channel.
chatwoot_connections = Table(
    "chatwoot_connections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("url", String(2000), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("inbox_id", Integer, nullable=False),
    Column("inbox_phone", String(32), nullable=False, server_default=""),  # as Chatwoot's inbox has it
    Column("api_token_enc", Text, nullable=False),  # Fernet, like the channel's credentials
    Column("webhook_secret_enc", Text, nullable=True),  # NULL: Chatwoot's webhooks come unsigned
    Column("send_via", String(16), nullable=False, server_default="chatwoot"),  # chatwoot | direct
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    # The last events.id turned into calls to Chatwoot; later events of the channel are due in id order.
    Column("event_cursor", BigInteger, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Which Chatwoot conversation is which contact: learnt from its webhooks, else looked up through its API.
chatwoot_conversations = Table(
    "chatwoot_conversations",
    metadata,
    Column("connection_id", Id, ForeignKey("chatwoot_connections.id", ondelete="CASCADE"), primary_key=True),
    Column("conversation_id", Integer, primary_key=True),  # Chatwoot's display id
    Column("source_id", String(128), nullable=False),  # the contact inbox's source id: wa_id or BSUID
    Column("status", String(16), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_chatwoot_conversations_source", "connection_id", "source_id"),
)

# What was already taken from Chatwoot (an agent message by its id, a delivery by its X-Chatwoot-Delivery).
chatwoot_seen = Table(
    "chatwoot_seen",
    metadata,
    Column("connection_id", Id, ForeignKey("chatwoot_connections.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

# Calls to make to Chatwoot: resolve a conversation, keep its custom attributes current, add a note.
chatwoot_calls = Table(
    "chatwoot_calls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connection_id", Id, ForeignKey("chatwoot_connections.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # resolve | attributes | note
    Column("message_id", BigInteger, nullable=True),  # a note's message
    # pending -> done | failed | unknown (a note that may have been added is never added again)
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Index("ix_chatwoot_calls_due", "state", "next_attempt_at"),
    Index("ix_chatwoot_calls_session", "session_id", "kind", "state"),
)

# Issue 23: each running `serve --sandbox-speed` keeps a row here, in real time, renewed every second:
# while one is fresh, no process adds a real channel to the database (services/fast_clock.py).
fast_clocks = Table(
    "fast_clocks",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("speed", Float, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Issue 25: bumped in the transaction of every change to which app secret vouches for which number
# (a channel added, rotated, renumbered or deleted; a business account id recorded), so the ack of
# every process sees a rotation at its very next body by reading one row.
secrets_version = Table(
    "secrets_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

# Issue 26: numbers Meta sends webhooks for that no channel has, by the workspace whose app secret signed them.
unrouted_numbers = Table(
    "unrouted_numbers",
    metadata,
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("phone_number_id", String(64), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("bodies", BigInteger, nullable=False),
)

# Issue 23, a team: who a chat is assigned to (at most one dashboard user of its workspace). A table of its
# own rather than a sessions column, so the engine's hot session row stays as it is; a user's deletion
# leaves their chats unassigned.
session_assignments = Table(
    "session_assignments",
    metadata,
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("assigned_by", String(200), nullable=False),
    Index("ix_session_assignments_user", "user_id"),
)

# Private notes on a session: written by agents for agents, never sent to WhatsApp.
session_notes = Table(
    "session_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_id", Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_session_notes_session", "session_id", "id"),
)

# A workspace's canned replies: a short name (`/thanks`) and a text with merge fields.
canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Id, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("workspace_id", "name"),
)


def require_column_order(row_type: Any, table: Table) -> None:
    """Raise unless the dataclass `row_type` declares `table`'s columns as its fields, in the same order: a
    row of `select(table)` then converts by position, with none of a mapping's cost."""
    if tuple(f.name for f in fields(row_type)) != tuple(table.c.keys()):
        raise RuntimeError(f"{row_type.__name__}'s fields must be the {table.name} table's columns, in the same order")

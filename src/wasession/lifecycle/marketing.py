"""What changes a contact's marketing state (docs/rules.md R24), on every path that learns of it: a
`user_preferences` webhook (stop, resume), and a send that failed with 131050 (the user stopped
marketing messages: opted out) or 131049 (Meta's per-user marketing limit: no marketing send for 24 h).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from wasession.domain.events import EventType
from wasession.lifecycle.session_writes import record
from wasession.store import contacts as contact_store
from wasession.store import marketing as marketing_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.whatsapp.payload import MarketingPreference

USER_STOPPED = 131050
MARKETING_LIMIT = 131049
MARKETING_LIMIT_WAIT = timedelta(hours=24)  # Meta: do not retry for at least 24 hours

Recorder = Callable[..., Any]  # (channel, session_id, event type, at, **data): an event in the caller's transaction


def apply_preferences(
    conn: Connection, channel: Channel, preferences: Sequence[MarketingPreference], add_event: Recorder
) -> None:
    """A `user_preferences` update: each stop opts the contact out of marketing, each resume undoes it.
    A user we never met has no contact yet: nothing to mark (the next stop Meta sends will)."""
    for pref in preferences:
        contact = contact_store.find(conn, channel.workspace_id, wa_id=pref.wa_id, user_id=pref.user_id)
        if contact is None:
            continue
        if pref.stop:
            marketing_store.opt_out(conn, contact.id, "user_preferences", pref.at)
        else:
            marketing_store.resume(conn, contact.id, pref.at)
        value = "stop" if pref.stop else "resume"
        add_event(
            channel,
            None,
            EventType.MARKETING_PREFERENCE,
            pref.at,
            contact_id=contact.id,
            value=value,
            source="user_preferences",
        )


def send_failed(conn: Connection, channel: Channel, session_id: int, code: int | None, at: datetime) -> None:
    """A send to the session's contact failed with `code`: 131050 opts the contact out of marketing,
    131049 defers its marketing sends by 24 hours; any other code changes nothing here."""
    if code not in (USER_STOPPED, MARKETING_LIMIT):
        return
    session = session_store.get(conn, session_id)
    if session is None:
        return
    if code == USER_STOPPED:
        marketing_store.opt_out(conn, session.contact_id, str(code), at)
        data: dict[str, Any] = {"value": "stop", "source": str(code)}
    else:
        until = at + MARKETING_LIMIT_WAIT
        marketing_store.defer(conn, session.contact_id, until, at)
        data = {"value": "defer", "source": str(code), "until": until}
    record(conn, channel, session_id, EventType.MARKETING_PREFERENCE, at, contact_id=session.contact_id, **data)

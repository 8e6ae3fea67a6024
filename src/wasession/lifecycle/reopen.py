"""The one writer of a reopening, shared by the agent's reopen (services) and the customer's
automatic one (ingest, with the policy's reopen setting)."""

from __future__ import annotations

from datetime import datetime

from wasession.domain.reopen import ReopenedBy, reopened
from wasession.lifecycle.session_writes import apply, state_of
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.sessions import SessionRow


def blocking_session(conn: Connection, session: SessionRow) -> SessionRow | None:
    """The contact's other active session on the channel, which a reopening would duplicate."""
    other = session_store.active_for(conn, session.channel_id, session.contact_id)
    return other if other is not None and other.id != session.id else None


def reopen_session(conn: Connection, channel: Channel, session: SessionRow, *, now: datetime, by: ReopenedBy) -> None:
    """Make the closed `session` active again at `now` and record `session_reopened`. The caller has
    checked it is closed and that `blocking_session` is None, in the same transaction."""
    apply(conn, channel, session.id, reopened(state_of(session), policy=channel.policy, now=now, by=by))

"""Session writes shared by ingest, the engine and agents: scheduling, closing, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from wasession.domain.plan import Plan, plan
from wasession.domain.policy import Policy
from wasession.store import events
from wasession.store import sessions as session_store
from wasession.store.channels import Channel
from wasession.store.sessions import SessionRow


def plan_values(p: Plan) -> dict[str, Any]:
    return {
        "window_closes_at": p.window_closes_at,
        "eligible_at": p.eligible_at,
        "closes_at": p.closes_at,
        "reminder_state": p.reminder_state,
        "reminder_due_at": p.reminder_due_at,
        "due_at": p.due_at,
        "due_kind": p.due_kind,
    }


def _replanned(
    session: SessionRow,
    policy: Policy,
    now: datetime,
    reminder_state: str | None,
    policy_changed: bool,
    extra: dict[str, Any],
) -> tuple[Plan, dict[str, Any]]:
    """The new plan of `session` and the values `replan` writes for it."""
    p = plan(
        last_customer_at=extra.get("last_customer_at", session.last_customer_at),
        policy=policy,
        reminder_state=reminder_state if reminder_state is not None else session.reminder_state,
        now=now,
        window_closed_early_at=extra.get("window_closed_early_at", session.window_closed_early_at),
        policy_changed=policy_changed,
    )
    return p, {**plan_values(p), **extra}


def replan(
    conn: Connection,
    session: SessionRow,
    policy: Policy,
    now: datetime,
    *,
    reminder_state: str | None = None,
    policy_changed: bool = False,
    **extra: Any,
) -> Plan:
    p, values = _replanned(session, policy, now, reminder_state, policy_changed, extra)
    session_store.update_session(conn, session.id, **values)
    return p


def _event(
    channel: Channel, session_id: int | None, event_type: str, at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return events.values(
        workspace_id=channel.workspace_id,
        channel_id=channel.id,
        session_id=session_id,
        type=event_type,
        at=at,
        data={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()},
    )


def record(
    conn: Connection,
    channel: Channel,
    session_id: int | None,
    event_type: str,
    at: datetime,
    /,
    **data: Any,
) -> None:
    events.add_many(conn, [_event(channel, session_id, event_type, at, data)])


class SessionWrites:
    """Session updates and events of one transaction, gathered and then written set-based by `flush`.

    The engine acts on a claimed batch of sessions through one of these: instead of two or three
    statements per session, `flush` writes updates with equal values in one UPDATE … WHERE id IN (…),
    the rest in one executemany per set of columns, and every event in one executemany INSERT in the
    order recorded (so the events get the same ids, in the same order, as written one by one). Nothing
    reaches the database before `flush`; call it inside the same transaction. Two updates of one
    session merge, later values winning, as two UPDATEs in a row would.
    """

    def __init__(self) -> None:
        self._updates: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []

    def update(self, session_id: int, **values: Any) -> None:
        self._updates.setdefault(session_id, {}).update(values)

    def record(self, channel: Channel, session_id: int | None, event_type: str, at: datetime, /, **data: Any) -> None:
        self._events.append(_event(channel, session_id, event_type, at, data))

    def replan(
        self,
        session: SessionRow,
        policy: Policy,
        now: datetime,
        *,
        reminder_state: str | None = None,
        policy_changed: bool = False,
        **extra: Any,
    ) -> Plan:
        p, values = _replanned(session, policy, now, reminder_state, policy_changed, extra)
        self.update(session.id, **values)
        return p

    def close(self, channel: Channel, session: SessionRow, now: datetime, reason: str) -> None:
        values: dict[str, Any] = {
            "status": "closed",
            "closed_at": now,
            "close_reason": reason,
            "due_at": None,
            "due_kind": None,
            "claimed_until": None,
            "claimed_by": None,
        }
        if session.reminder_state == "pending":
            values["reminder_state"] = "cancelled"
            values["reminder_reason"] = "session_closed"
            self.record(channel, session.id, "reminder_cancelled", now, reason="session_closed")
        self.update(session.id, **values)
        lag = (now - session.eligible_at).total_seconds() if reason == "timeout" else None
        self.record(
            channel,
            session.id,
            "session_closed",
            now,
            reason=reason,
            eligible_at=session.eligible_at,
            lag_seconds=lag,
        )

    def flush(self, conn: Connection) -> None:
        alike: dict[tuple[tuple[str, Any], ...], list[int]] = {}
        for session_id, values in self._updates.items():
            alike.setdefault(tuple(values.items()), []).append(session_id)
        single: list[tuple[int, dict[str, Any]]] = []
        for items, session_ids in alike.items():
            if len(session_ids) > 1:
                session_store.update_sessions_alike(conn, session_ids, **dict(items))
            else:
                single.append((session_ids[0], dict(items)))
        session_store.update_sessions(conn, single)
        events.add_many(conn, self._events)
        self._updates = {}
        self._events = []


def close(conn: Connection, channel: Channel, session: SessionRow, now: datetime, reason: str) -> None:
    writes = SessionWrites()
    writes.close(channel, session, now, reason)
    writes.flush(conn)


def reminder_failed(
    conn: Connection,
    channel: Channel,
    session: SessionRow,
    silence_t: datetime | None,
    code: int | None,
    at: datetime,
    now: datetime,
) -> None:
    """A reminder of the current silence failed; 131047 means Meta considers the window over (R15)."""
    if silence_t != session.last_customer_at:
        return
    extra: dict[str, Any] = {"reminder_reason": f"error {code}" if code else "failed"}
    if code == 131047 and session.active:
        extra["window_closed_early_at"] = min(at, now)
        record(conn, channel, session.id, "window_closed", min(at, now), error_code=code)
    if session.active:
        replan(conn, session, channel.policy, now, reminder_state="failed", **extra)
    else:
        session_store.update_session(conn, session.id, reminder_state="failed", **extra)

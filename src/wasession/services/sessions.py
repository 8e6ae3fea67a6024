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
    p = plan(
        last_customer_at=extra.get("last_customer_at", session.last_customer_at),
        policy=policy,
        reminder_state=reminder_state if reminder_state is not None else session.reminder_state,
        now=now,
        window_closed_early_at=extra.get("window_closed_early_at", session.window_closed_early_at),
        policy_changed=policy_changed,
    )
    session_store.update_session(conn, session.id, **plan_values(p), **extra)
    return p


def record(
    conn: Connection,
    channel: Channel,
    session_id: int | None,
    event_type: str,
    at: datetime,
    /,
    **data: Any,
) -> None:
    events.add(
        conn,
        workspace_id=channel.workspace_id,
        channel_id=channel.id,
        session_id=session_id,
        type=event_type,
        at=at,
        data={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()},
    )


def close(conn: Connection, channel: Channel, session: SessionRow, now: datetime, reason: str) -> None:
    extra: dict[str, Any] = {}
    if session.reminder_state == "pending":
        extra = {"reminder_state": "cancelled", "reminder_reason": "session_closed"}
    session_store.update_session(
        conn,
        session.id,
        status="closed",
        closed_at=now,
        close_reason=reason,
        due_at=None,
        due_kind=None,
        claimed_until=None,
        claimed_by=None,
        **extra,
    )
    if extra:
        record(conn, channel, session.id, "reminder_cancelled", now, reason="session_closed")
    lag = (now - session.eligible_at).total_seconds() if reason == "timeout" else None
    record(
        conn,
        channel,
        session.id,
        "session_closed",
        now,
        reason=reason,
        eligible_at=session.eligible_at,
        lag_seconds=lag,
    )


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

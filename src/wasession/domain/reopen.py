"""Reopening a closed session: by an agent (by hand, or by replying while WhatsApp's window is still
open) or, with the policy's reopen setting, by the customer writing again soon after the closure.

The silence it continues is the same one (T does not move: only a customer message moves T, R3), so
the window and the timeout keep their times. A session already past its timeout is closed again by
the first closure tick after the reopening, not at once by a tick that has already gone by.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum

from wasession.domain.events import EventType
from wasession.domain.policy import Policy
from wasession.domain.schedule import closes_at
from wasession.domain.states import DueKind, SessionStatus
from wasession.domain.transitions import Change, EventNote, SessionState, replanned


class ReopenedBy(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"


def reopened(state: SessionState, *, policy: Policy, now: datetime, by: ReopenedBy) -> Change:
    """The fields and the `session_reopened` event of a closed session made active again at `now`."""
    p, values = replanned(state, policy, now)
    closing = max(p.closes_at, closes_at(max(state.last_customer_at, now - policy.session_timeout), policy))
    due_at = p.due_at if p.due_kind is DueKind.REMIND else closing
    values["status"] = SessionStatus.ACTIVE
    values["closed_at"] = values["close_reason"] = None
    values["closes_at"], values["due_at"] = closing, due_at
    values["claimed_until"] = values["claimed_by"] = None
    note = EventNote(
        EventType.SESSION_REOPENED,
        now,
        {"by": ReopenedBy(by), "window_closes_at": p.window_closes_at, "closes_at": closing},
    )
    return Change(values, (note,), plan=replace(p, closes_at=closing, due_at=due_at))

"""What a policy change moves in the open chats, known before it is saved (R11).

The dry run re-plans every active session with the very transition the save applies
(`transitions.policy_changed`), so what it announces is what the save does. The save itself adds a
`session_replanned` event to each session whose closure or reminder moved, so the agent sees on the
session page why its times changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from wasession.domain import transitions
from wasession.domain.errors import ValidationErrors
from wasession.domain.events import EventType
from wasession.domain.policy import Policy, policy_errors, validate_policy
from wasession.domain.states import ReminderState
from wasession.domain.transitions import Change, EventNote, SessionState
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError
from wasession.store import channels as channel_store
from wasession.store import sessions as session_store


@dataclass(frozen=True)
class SessionMove:
    session_id: int
    closes_at_before: datetime
    closes_at_after: datetime
    reminder_due_before: datetime | None
    reminder_due_after: datetime | None
    closes_now: bool  # the engine closes it as soon as the policy is saved

    @property
    def closure_moved(self) -> bool:
        return self.closes_at_before != self.closes_at_after

    @property
    def reminder_moved(self) -> bool:
        return self.reminder_due_before != self.reminder_due_after


@dataclass(frozen=True)
class PolicyImpact:
    active: int  # open chats looked at
    moves: tuple[SessionMove, ...]

    @property
    def close_now(self) -> int:
        return sum(1 for m in self.moves if m.closes_now)

    @property
    def closures_moved(self) -> int:
        return sum(1 for m in self.moves if m.closure_moved and not m.closes_now)

    @property
    def reminders_moved(self) -> int:
        return sum(1 for m in self.moves if m.reminder_moved)

    def sentences(self) -> list[str]:
        """`3 open chats will close now`, … ; empty when the save moves nothing."""
        said: list[str] = []
        for count, singular, plural in (
            (self.close_now, "1 open chat will close now", "{n} open chats will close now"),
            (self.closures_moved, "1 open chat's closure time moves", "{n} open chats' closure times move"),
            (self.reminders_moved, "1 reminder moves", "{n} reminders move"),
        ):
            if count:
                said.append(singular if count == 1 else plural.format(n=count))
        return said


def move_of(session_id: int, state: SessionState, change: Change, now: datetime) -> SessionMove | None:
    fields = change.fields
    closes_after = fields.get("closes_at", state.closes_at)
    reminder_after = fields.get("reminder_due_at", state.reminder_due_at)
    if fields.get("reminder_state", state.reminder_state) != ReminderState.PENDING:
        reminder_after = None
    reminder_before = state.reminder_due_at if state.reminder_state == ReminderState.PENDING else None
    assert closes_after is None or isinstance(closes_after, datetime)
    move = SessionMove(
        session_id=session_id,
        closes_at_before=state.closes_at,
        closes_at_after=closes_after or state.closes_at,
        reminder_due_before=reminder_before,
        reminder_due_after=reminder_after if isinstance(reminder_after, datetime) else None,
        closes_now=closes_after is not None and closes_after <= now < state.closes_at,
    )
    return move if move.closure_moved or move.reminder_moved else None


def noted(change: Change, move: SessionMove | None, now: datetime) -> Change:
    """`change` with a `session_replanned` event when it moved the session's times."""
    if move is None:
        return change
    data = {
        "closes_at_before": move.closes_at_before,
        "closes_at": move.closes_at_after,
        "reminder_due_before": move.reminder_due_before,
        "reminder_due_at": move.reminder_due_after,
        "closes_now": move.closes_now,
    }
    return replace(change, events=(*change.events, EventNote(EventType.SESSION_REPLANNED, now, data)))


def impact(sessions: Iterable[session_store.SessionRow], policy: Policy, now: datetime) -> PolicyImpact:
    moves: list[SessionMove] = []
    active = 0
    for session in sessions:
        active += 1
        state = session_writes.state_of(session)
        move = move_of(session.id, state, transitions.policy_changed(state, policy=policy, now=now), now)
        if move is not None:
            moves.append(move)
    return PolicyImpact(active, tuple(moves))


def checked_policy(changes: Mapping[str, object], base: Policy) -> Policy:
    """`base` with `changes`, or every bad setting raised at once (the save and its dry run alike)."""
    problems = policy_errors(changes, base)
    if problems:
        raise ValidationErrors(problems)
    return validate_policy(changes, base)


def preview_policy(
    ctx: ServiceContext, channel_id: int, changes: Mapping[str, object], *, workspace_id: int | None = None
) -> PolicyImpact:
    """The dry run of `channels.save_policy`: every bad setting raised at once, otherwise what the save
    would move; nothing is written."""
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        channel = channel_store.get(conn, channel_id)
        if channel is None or (workspace_id is not None and channel.workspace_id != workspace_id):
            raise NotFoundError("channel", channel_id)
        policy = checked_policy(changes, channel.policy)
        return impact(session_store.active_in_channel(conn, channel_id), policy, now)

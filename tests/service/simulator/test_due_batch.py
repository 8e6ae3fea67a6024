"""Issue 6: the due worker writes a claimed batch set-based, with exactly the effects of acting on
its sessions one at a time (batch size 1): the same rows, events (type, data, at, order), messages,
counts and metrics; a failure anywhere in a batch leaves nothing of it behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import astuple
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select

from tests.conftest import fresh_postgres_url
from tests.support.simulator import TEST_DATABASE
from wasession.engine.due import DueResult
from wasession.store import events as event_store
from wasession.store import sessions as session_store
from wasession.store.schema import events, messages, sessions
from wasession.testing import Simulator

START = "2026-01-05T15:00:00Z"
METRICS = [
    ("wasession_closures_total", {"reason": "timeout"}),
    ("wasession_closure_lag_seconds_count", {}),
    ("wasession_closure_lag_seconds_sum", {}),
    ("wasession_closure_delay_seconds_sum", {}),
    ("wasession_closure_lag_seconds_bucket", {"le": "60.0"}),
    ("wasession_reminders_total", {"outcome": "queued"}),
    ("wasession_reminders_total", {"outcome": "skipped"}),
]


@contextlib.contextmanager
def simulator() -> Iterator[Simulator]:
    with contextlib.ExitStack() as stack:
        url = None
        if TEST_DATABASE == "postgresql":
            url = stack.enter_context(contextlib.contextmanager(fresh_postgres_url)())
        yield stack.enter_context(Simulator(start=START, database_url=url))


def set_up(sim: Simulator) -> None:
    """Sessions on four channels whose due actions all differ, every due_at distinct (claim order is
    due_at order). The clock is moved first and the messages arrive late, so that when the engine
    runs, everything below is due at once."""
    remind = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    plain = sim.add_channel(session_timeout="1h")
    late = sim.add_channel(reminder_enabled=True, reminder_after_hours=20, session_timeout="48h")
    ticks = sim.add_channel(session_timeout="1h", closure_check="12h", closure_check_anchor="03:00")
    sim.clock.advance(timedelta(days=1))
    now = sim.now
    n = 0

    def write(channel: Any, ago: timedelta) -> int:
        nonlocal n
        n += 1
        wa_id = f"1555000{n:04d}"
        sim.customer_message(channel, wa_id=wa_id, name=f"Customer {n}", at=now - ago)
        return sim.session(channel, wa_id=wa_id).id

    stale = []
    for i in range(4):
        s = timedelta(seconds=i)
        write(remind, timedelta(minutes=150) - s)  # closes 30 min ago with its reminder still pending
        write(plain, timedelta(minutes=70) - s)  # closes 10 min ago, no reminder
        write(remind, timedelta(minutes=80) - s)  # reminder due 20 min ago, closes later: queued
        write(late, timedelta(hours=23, minutes=57) - s)  # reminder due, window closing: skipped
        if i < 2:
            stale.append(write(plain, timedelta(minutes=10) - s))  # closes in 50 min
    write(ticks, timedelta(hours=20))  # eligible 19 h ago, closed at the tick after that
    # Stale due times (as after a policy or clock change): due now, nothing to do but re-plan.
    with sim.runtime.db.write() as conn:
        for k, session_id in enumerate(stale):
            session_store.update_session(conn, session_id, due_at=now - timedelta(days=1, seconds=k))


def metric_values() -> list[float]:
    return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels in METRICS]


def run(sim: Simulator, batch_size: int) -> tuple[DueResult, list[float], dict[str, list[Any]]]:
    with sim.runtime.db.read() as conn:
        first_event = int(conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar() or 0)
    sim.runtime.due.batch_size = batch_size
    before = metric_values()
    result = sim.runtime.due.run_due()
    deltas = [after - b for after, b in zip(metric_values(), before, strict=True)]
    with sim.runtime.db.read() as conn:
        state = {
            "sessions": [tuple(r) for r in conn.execute(select(sessions).order_by(sessions.c.id))],
            "messages": [
                tuple(r)
                for r in conn.execute(
                    select(messages.c.id, messages.c.session_id, messages.c.kind, messages.c.body)
                    .add_columns(messages.c.status, messages.c.callback_data, messages.c.silence_t)
                    .order_by(messages.c.id)
                )
            ],
            "events": [  # all but the id: its order is the list's order
                tuple(r)[1:]
                for r in conn.execute(select(events).where(events.c.id > first_event).order_by(events.c.id))
            ],
        }
    return result, deltas, state


def test_a_mixed_batch_has_the_effects_of_its_sessions_one_by_one() -> None:
    outcomes = []
    for batch_size in (1, 3, 500):
        with simulator() as sim:
            set_up(sim)
            outcomes.append(run(sim, batch_size))
    one_by_one = outcomes[0]
    result, deltas, state = one_by_one
    # The scenario covers every action, in one batch of 500.
    assert (result.closed, result.reminders_queued, result.reminders_skipped, result.replanned) == (9, 4, 4, 2)
    types = [e[3] for e in state["events"]]
    assert types.count("reminder_cancelled") == 4 and types.count("session_closed") == 9
    assert types.count("reminder_queued") == 4 and types.count("reminder_skipped") == 4
    assert deltas[0] == 9 and deltas[1] == 9 and deltas[5] == 4 and deltas[6] == 4
    for other in outcomes[1:]:
        assert astuple(other[0]) == astuple(result)
        assert other[1] == pytest.approx(deltas)
        assert other[2]["sessions"] == state["sessions"]
        assert other[2]["messages"] == state["messages"]
        assert other[2]["events"] == state["events"]


def test_a_batch_of_closures_takes_a_few_statements_not_a_few_per_session(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    for i in range(60):
        # Half still have a pending reminder when closed (cancelled with an event), half not.
        sim.customer_message(ch, wa_id=f"1555100{i:04d}", at=sim.now - timedelta(minutes=90 if i % 2 else 0))
    assert sim.runtime.due.run_due().reminders_queued == 30  # the odd half's, due 30 min ago
    sim.clock.advance(timedelta(hours=5))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    writer = sim.runtime.db.writer
    event.listen(writer, "before_cursor_execute", count)
    try:
        result = sim.runtime.due.run_due()
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert result.closed == 60
    # Besides the claim and the channel: two UPDATE … IN (with and without the reminder's columns) and
    # one executemany INSERT of the 90 events.
    verbs = [s.split(None, 1)[0].upper() for s in statements]
    assert sorted(v for v in verbs if v not in ("SELECT", "BEGIN")) == ["INSERT", "UPDATE", "UPDATE"], statements
    with sim.runtime.db.read() as conn:
        rows = [session_store.get(conn, s) for s in range(1, 61)]
    assert all(r is not None and r.status == "closed" and r.due_at is None for r in rows)
    assert sorted(r.reminder_state for r in rows if r) == ["cancelled"] * 30 + ["queued"] * 30


def test_a_failure_in_a_batch_leaves_nothing_of_it(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = sim.add_channel(session_timeout="1h")
    for i in range(5):
        sim.customer_message(ch, wa_id=f"1555200{i:04d}", at=sim.now - timedelta(seconds=i))
    sim.clock.advance(timedelta(hours=2))

    def fail(*args: Any) -> None:
        raise RuntimeError("database gone")

    with sim.runtime.db.read() as conn:
        events_before = len(event_store.for_workspace(conn, ch.workspace_id))
    monkeypatch.setattr(event_store, "add_many", fail)  # the updates already ran in this transaction
    with pytest.raises(RuntimeError, match="database gone"):
        sim.runtime.due.run_due()
    monkeypatch.undo()
    assert [s.status for s in sim.active_sessions(ch)] == ["active"] * 5
    with sim.runtime.db.read() as conn:
        assert len(event_store.for_workspace(conn, ch.workspace_id)) == events_before
    # Claimed again later: closed once, and a repeated run finds nothing to do.
    assert sim.runtime.due.run_due().closed == 5
    assert sim.runtime.due.run_due().total == 0
    assert sim.active_sessions(ch) == []
    closed = [e for e in sim.timeline(1) if e.type == "session_closed"]
    assert len(closed) == 1 and closed[0].data["lag_seconds"] == 3600.0


def test_each_queued_reminder_event_names_its_own_message(sim: Simulator) -> None:
    """The writer inserts a queued reminder's message while gathering the batch, so the batched
    `reminder_queued` event carries that message's id, first in its data."""
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    ids = []
    for i in range(3):
        sim.customer_message(ch, wa_id=f"155500009{i:02d}", name=f"C{i}")
        ids.append(sim.session(ch, wa_id=f"155500009{i:02d}").id)
    sim.clock.advance(timedelta(hours=1))
    sim.runtime.due.run_due()
    with sim.runtime.db.read() as conn:
        reminders = {
            r.session_id: r.id
            for r in conn.execute(select(messages.c.id, messages.c.session_id).where(messages.c.kind == "reminder"))
        }
        for session_id in ids:
            queued = [e for e in event_store.for_session(conn, session_id) if e.type == "reminder_queued"]
            assert len(queued) == 1
            assert list(queued[0].data) == ["message_id", "due_at", "step"]
            assert queued[0].data["message_id"] == reminders[session_id]

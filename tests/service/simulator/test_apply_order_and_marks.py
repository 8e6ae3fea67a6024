"""Issue 21: customer messages are applied ahead of the statuses of our own sends in a backlog, and a
crash between the apply's commit and the log's mark re-applies the batch with no second effect."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.service.simulator.test_apply_queue import ack, count
from tests.service.simulator.test_ingest_group_commit import body
from wasession.ingest import IngestResult
from wasession.ingest.group_commit import body_kind
from wasession.sandbox.bodies import status_body
from wasession.store import webhook_log
from wasession.store.schema import metadata, sessions
from wasession.store.schema import webhook_log as log_table
from wasession.testing import MessageView, Simulator

DATA = Path(__file__).parents[2] / "data" / "whatsapp-webhooks"


@pytest.fixture
def quiet(any_sim: Simulator) -> Simulator:
    """Bodies are logged and left for the test to apply (SQLite and PostgreSQL)."""
    any_sim.apply_on_ack = False
    return any_sim


@pytest.fixture
def sqlite_sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        s.apply_on_ack = False
        yield s


def statuses(sim: Simulator, pnid: str, wamid: str, name: str) -> bytes:
    return json.dumps(
        status_body(phone_number_id=pnid, wamid=wamid, status=name, timestamp=sim.now, recipient_id="4911")
    ).encode()


def test_the_ack_tells_status_only_bodies_from_the_rest_by_their_bytes() -> None:
    kinds = {path.name: body_kind(path.read_bytes()) for path in DATA.glob("*.json")}
    assert kinds["message_status.json"] == webhook_log.KIND_STATUSES
    for name in ("message.json", "callback_button.json", "edited_message.json", "account_update.json"):
        assert kinds[name] == webhook_log.KIND_CUSTOMER
    # The field every change names is a value, not a key; a `messages` key anywhere moves a body ahead.
    assert body_kind(b'{"statuses": [], "field": "messages"}') == webhook_log.KIND_STATUSES
    assert body_kind(b'{"statuses": [], "messages" : []}') == webhook_log.KIND_CUSTOMER


def test_a_customer_message_behind_a_backlog_of_statuses_is_applied_in_the_first_batch(quiet: Simulator) -> None:
    sim = quiet
    ch = sim.add_channel()
    backlog = [ack(sim, statuses(sim, ch.phone_number_id, f"wamid.unknown{i}", "delivered")) for i in range(30)]
    customer = ack(sim, body(sim, ch, "4911", "help"))
    with sim.runtime.db.read() as conn:
        kinds = dict(conn.execute(select(log_table.c.id, log_table.c.kind)).all())
    assert {kinds[r.log_id] for r in backlog} == {webhook_log.KIND_STATUSES}
    assert kinds[customer.log_id] == webhook_log.KIND_CUSTOMER
    first = sim.runtime.ingestor.queue.apply_batch(5)
    # Logged last, applied first; the statuses fill the batch, oldest first.
    assert [r.log_id for r in first] == [customer.log_id] + [r.log_id for r in backlog[:4]]
    assert count(sim, sessions) == 1
    second = sim.runtime.ingestor.queue.apply_batch(5)
    assert [r.log_id for r in second] == [r.log_id for r in backlog[4:9]]
    sim.runtime.ingestor.drain()
    assert sim.runtime.ingestor.queue.backlog().depth == 0


class _Crash(BaseException):
    """The process dies after the apply's commit, before the log's mark (SIGKILL, power cut)."""


def _state(sim: Simulator) -> dict[str, list[Any]]:
    """Every row of the main database: what applying webhooks may change."""
    with sim.runtime.db.read() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(select(t)).all()))
            for t in metadata.sorted_tables
            if t.name != log_table.name
        }


def _batch(sim: Simulator) -> tuple[list[IngestResult], MessageView]:
    """A reminder sent; then logged, not applied: its statuses and two customers' messages."""
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    ack(sim, body(sim, ch, "4911", "first"))
    sim.drain()
    sim.advance("1h")  # the reminder is sent
    reminder = next(m for m in sim.transcript(sim.session(ch, wa_id="4911")) if m.kind == "reminder")
    assert reminder.wamid
    batch = [
        ack(sim, statuses(sim, ch.phone_number_id, reminder.wamid, "delivered")),
        ack(sim, body(sim, ch, "4911", "again")),
        ack(sim, body(sim, ch, "4922", "a new customer")),
        ack(sim, statuses(sim, ch.phone_number_id, reminder.wamid, "read")),
    ]
    return batch, reminder


def test_a_crash_between_the_apply_commit_and_the_mark_reapplies_with_no_second_effect(
    sqlite_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sqlite_sim
    assert sim.runtime.db.log_apart  # SQLite: two files, two transactions
    batch, reminder = _batch(sim)

    def crash(*_: Any) -> None:
        raise _Crash()

    monkeypatch.setattr(webhook_log, "mark_applied", crash)
    with pytest.raises(_Crash):
        sim.runtime.ingestor.drain()
    monkeypatch.undo()
    applied_once = _state(sim)
    assert sim.message(reminder.id).status == "read" and count(sim, sessions) == 2  # committed
    assert sim.runtime.ingestor.queue.backlog().depth == len(batch)  # but not marked

    applied = sim.runtime.ingestor.drain()  # after the restart: the same rows again
    assert set(applied) == {r.log_id for r in batch}
    assert _state(sim) == applied_once  # no second message, session, event or status change
    assert sim.runtime.ingestor.queue.backlog().depth == 0
    assert sum(r.duplicates for r in applied.values()) == 2  # R4: the two customer messages were known


# A process that applies what waits and is SIGKILLed right after the apply commits, before the mark.
KILLED_BEFORE_THE_MARK = """
import os, signal, sys
from wasession.config import Settings
from wasession.domain.clock import ManualClock
from wasession.runtime import Runtime
from wasession.store import webhook_log

runtime = Runtime(Settings(database_url=sys.argv[1], secret_key=sys.argv[2]), clock=ManualClock(sys.argv[3]))
webhook_log.mark_applied = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
runtime.ingestor.drain()
"""


def test_a_process_killed_between_the_apply_commit_and_the_mark_loses_nothing_and_doubles_nothing(
    sqlite_sim: Simulator,
) -> None:
    sim = sqlite_sim
    batch, reminder = _batch(sim)
    settings = sim.runtime.settings
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_BEFORE_THE_MARK,
            settings.database_url,
            settings.secret_key or "",
            sim.now.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    applied_once = _state(sim)
    assert sim.message(reminder.id).status == "read" and count(sim, sessions) == 2  # committed before the kill
    assert sim.runtime.ingestor.queue.backlog().depth == len(batch)  # and not marked
    assert set(sim.runtime.ingestor.drain()) == {r.log_id for r in batch}  # the restart applies them again
    assert _state(sim) == applied_once
    assert sim.runtime.ingestor.queue.backlog().depth == 0

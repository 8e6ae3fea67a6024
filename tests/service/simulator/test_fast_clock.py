"""Issue 23: the fast-clock heartbeat refuses real channels, and a sandbox timeline ahead of real time
is moved back whole (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from wasession.services import fast_clock
from wasession.services.channels import NewChannel, create_channel
from wasession.services.errors import ConflictError
from wasession.testing import Simulator

ANA = "15550001111"
REAL = NewChannel(name="Real", phone_number_id="123456", access_token="t", app_secret="s", verify_token="v")


@pytest.fixture
def future_sim(migrated_database_url: str) -> Iterator[Simulator]:
    with Simulator(start=datetime.now(UTC) + timedelta(days=3), database_url=migrated_database_url) as s:
        yield s


def test_a_heartbeat_refuses_real_channels_and_its_end_lifts_that(future_sim: Simulator) -> None:
    ctx = future_sim.runtime.ctx
    assert fast_clock.beat(ctx, "elsewhere:1", 60).real_channels == []
    with pytest.raises(ConflictError, match=r"60 times faster than real time \(--sandbox-speed\)") as refused:
        create_channel(ctx, REAL)
    assert refused.value.code == "sandbox_speed"
    fast_clock.end(ctx, "elsewhere:1")
    assert create_channel(ctx, REAL).name == "Real"
    assert [c.name for c in fast_clock.beat(ctx, "elsewhere:1", 60).real_channels] == ["Real"]


def test_a_sandbox_timeline_ahead_of_real_time_moves_back_whole_and_a_real_one_stays(future_sim: Simulator) -> None:
    sim = future_sim
    sandbox = sim.add_sandbox_channel()
    sim.customer_message(sandbox, wa_id=ANA, name="Ana Silva", text="hi")
    sim.advance("3h")  # reminder after 1 h, closed after 2 h
    closed = sim.session(sandbox, wa_id=ANA)
    assert closed.status == "closed" and closed.closed_at is not None
    span = closed.closed_at - closed.opened_at

    lines = fast_clock.retime_sandboxes(sim.runtime.ctx)
    assert len(lines) == 1 and "moved its timeline back" in lines[0], lines
    moved = sim.session(sandbox, wa_id=ANA)
    assert moved.closed_at is not None and moved.closed_at <= datetime.now(UTC)
    assert moved.closed_at - moved.opened_at == span  # spacing kept
    assert fast_clock.retime_sandboxes(sim.runtime.ctx) == []  # nothing left ahead


def test_a_customer_writing_in_the_second_of_the_restart_opens_a_new_chat(future_sim: Simulator) -> None:
    sim = future_sim
    sandbox = sim.add_sandbox_channel()
    sim.customer_message(sandbox, wa_id=ANA, name="Ana Silva", text="hi")
    sim.advance("3h")  # closed after 2 h: the closure is the timeline's latest time
    closed = sim.session(sandbox, wa_id=ANA)
    assert closed.status == "closed"

    restarted = datetime.now(UTC)
    assert fast_clock.retime_sandboxes(sim.runtime.ctx)
    # Meta's timestamp has whole seconds: this one may read earlier than the moment the timeline moved.
    sim.customer_message(sandbox, wa_id=ANA, text="back again", at=restarted)
    active = sim.active_sessions(sandbox)
    assert len(active) == 1, "the message was filed into the closed chat as a late one (R5)"
    assert active[0].id != closed.id and sim.session(sandbox, wa_id=ANA).id == active[0].id

"""One channel's hanging Graph origin must not delay another channel's sends: the real sender, a real
database, and two real origins on 127.0.0.1, one that never answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.graph_servers import Origin, ok_answer, origin
from wasession.domain.states import MessageStatus
from wasession.outbox import SendReport
from wasession.services import agents
from wasession.store import messages as message_store
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.wire import WireTransport

HANG_DEADLINE = 4.0  # channel A's requests are cut here; B must be done long before
PROMPT = 1.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


def _agent_messages(sim: Simulator, ch: Channel, count: int, first_wa_id: int) -> list[int]:
    ids = []
    for n in range(count):
        wa_id = str(first_wa_id + n)
        sim.customer_message(ch, wa_id=wa_id, name=f"Customer {n}")
        ids.append(agents.send_text(sim.runtime.ctx, sim.session(ch, wa_id=wa_id).id, f"hello {n}"))
    return ids


def _status(sim: Simulator, message_id: int) -> str:
    with sim.runtime.db.read() as conn:
        row = message_store.get(conn, message_id)
    assert row is not None
    return row.status


def _route(sim: Simulator, routes: dict[int, str]) -> None:
    hanging = WireTransport(timeout=HANG_DEADLINE, connect_timeout=1.0)
    healthy = WireTransport(timeout=HANG_DEADLINE, connect_timeout=1.0)
    clients = {
        cid: CloudClient(hanging if n == 0 else healthy, base_url=url) for n, (cid, url) in enumerate(routes.items())
    }
    sim.runtime.sender.client_for = lambda channel: clients[channel.id]


def _seconds_until_accepted(sim: Simulator, message_id: int, began: float, limit: float) -> float:
    """Watches the row from outside the sender, as the dashboard would."""
    while _status(sim, message_id) != MessageStatus.ACCEPTED:
        if time.monotonic() - began > limit:
            return float("inf")
        threading.Event().wait(0.02)
    return time.monotonic() - began


def _run_in_background(sim: Simulator) -> tuple[threading.Thread, list[SendReport]]:
    reports: list[SendReport] = []
    thread = threading.Thread(target=lambda: reports.append(sim.runtime.sender.run_pending()), daemon=True)
    thread.start()
    return thread, reports


def _hung(a: Origin, count: int, limit: float = 5.0) -> None:
    began = time.monotonic()
    while len(a.arrived) < count and time.monotonic() - began < limit:
        threading.Event().wait(0.02)
    assert len(a.arrived) >= count


def test_a_hanging_origin_does_not_hold_up_another_channels_message(sim: Simulator) -> None:
    a_channel, b_channel = sim.add_channel(name="A"), sim.add_channel(name="B")
    a_ids = _agent_messages(sim, a_channel, 2, 15550010000)
    (b_id,) = _agent_messages(sim, b_channel, 1, 15550020000)
    with origin(None) as a, origin(lambda: [ok_answer()]) as b:
        _route(sim, {a_channel.id: a.url, b_channel.id: b.url})
        began = time.monotonic()
        thread, reports = _run_in_background(sim)
        took = _seconds_until_accepted(sim, b_id, began, HANG_DEADLINE)
        assert took < PROMPT, f"B's message was recorded {took:.2f} s in, behind A's hanging origin"
        assert [_status(sim, i) for i in a_ids] == [MessageStatus.SENDING] * 2  # A is still hanging
        thread.join(HANG_DEADLINE + 10)
    assert not thread.is_alive()
    assert reports[0].accepted == 1 and reports[0].unknown == 2  # A's requests had left: never resent
    assert [_status(sim, i) for i in a_ids] == [MessageStatus.UNKNOWN] * 2


def test_a_channel_stuck_on_every_worker_it_may_use_leaves_room_for_others(sim: Simulator) -> None:
    """A has more messages than the sender's whole concurrency; B's message, queued while all of A's
    requests hang, still goes out at once."""
    a_channel, b_channel = sim.add_channel(name="A"), sim.add_channel(name="B")
    concurrency = sim.runtime.sender.concurrency
    _agent_messages(sim, a_channel, concurrency + 3, 15550030000)
    with origin(None) as a, origin(lambda: [ok_answer()]) as b:
        _route(sim, {a_channel.id: a.url, b_channel.id: b.url})
        thread, _ = _run_in_background(sim)
        _hung(a, concurrency)  # every request A may have in flight is hanging
        (b_id,) = _agent_messages(sim, b_channel, 1, 15550040000)
        began = time.monotonic()
        took = _seconds_until_accepted(sim, b_id, began, HANG_DEADLINE)
        assert took < PROMPT, f"B's message was recorded {took:.2f} s after it was queued"
        assert len(a.arrived) == concurrency  # A never had more than its share in flight
        thread.join(3 * HANG_DEADLINE + 10)
    assert not thread.is_alive()

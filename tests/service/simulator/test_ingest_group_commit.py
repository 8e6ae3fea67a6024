"""Issue 6: ingest's group commit, its channel and credential caches, and its wake-ups.

Through the real endpoint (the Simulator posts over ASGI) where the behaviour is visible there;
directly on `GroupCommit` to control which bodies share a transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from wasession.engine.runner import Loop
from wasession.ingest import GroupCommit, IngestResult, group_commit
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.services import channels as channel_service
from wasession.services import event_webhooks as hook_service
from wasession.services import forwards as forward_service
from wasession.store.channels import Channel
from wasession.store.schema import messages, sessions, webhook_log
from wasession.testing import Simulator
from wasession.whatsapp.signature import SIGNATURE_HEADER

WAIT = 30.0  # seconds; only a bound for a broken implementation, never reached when it works


def body(
    sim: Simulator, ch: Channel, wa_id: str, text: str = "hi", wamid: str | None = None, at: datetime | None = None
) -> bytes:
    return json.dumps(
        text_message_body(
            phone_number_id=ch.phone_number_id,
            wa_id=wa_id,
            name="Customer",
            text=text,
            timestamp=at or sim.now,
            wamid=wamid or new_wamid(wa_id),
        )
    ).encode()


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def count(sim: Simulator, table: Any, *where: Any) -> int:
    with sim.runtime.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


def inbound(sim: Simulator) -> int:
    return count(sim, messages, messages.c.direction == "in")


# -- the channel and its credentials are always current ------------------------------------------------


def test_a_policy_saved_through_the_services_counts_for_the_very_next_webhook(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel(session_timeout="24h")
    sim.customer_message(ch, wa_id="4911")
    assert sim.session(ch, wa_id="4911").closes_at == sim.now + timedelta(hours=24)
    channel_service.save_policy(sim.runtime.ctx, ch.id, {"session_timeout": "2h"})
    sim.customer_message(ch, wa_id="4922")
    assert sim.session(ch, wa_id="4922").closes_at == sim.now + timedelta(hours=2)


def test_the_channel_is_rebuilt_only_when_its_row_changed(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="24h")
    cache = sim.runtime.ingestor.channels
    for n in range(3):
        sim.customer_message(ch, wa_id=f"491{n}")
    assert cache.rebuilds == 1  # built once, then reused while the row stays the same
    sim.update_policy(ch, session_timeout="3h")
    sim.customer_message(ch, wa_id="4919")
    assert cache.rebuilds == 2
    assert sim.session(ch, wa_id="4919").closes_at == sim.now + timedelta(hours=3)


def last_outcome(sim: Simulator) -> dict[str, Any]:
    with sim.runtime.db.read() as conn:
        row = conn.execute(select(webhook_log.c.outcome).order_by(webhook_log.c.id.desc()).limit(1)).one()
    return dict(row[0])


def test_a_deleted_channel_makes_the_next_webhook_unroutable(sim: Simulator) -> None:
    from wasession.services.channel_admin import delete_channel

    ch = sim.add_channel()
    other = sim.add_channel()  # the Simulator signs every channel with one app secret (one Meta app)
    sim.customer_message(ch, wa_id="4911")
    alone = body(sim, ch, "4922")
    mixed = json.loads(body(sim, other, "4933"))
    mixed["entry"] += json.loads(body(sim, ch, "4944"))["entry"]
    delete_channel(sim.runtime.ctx, ch.id, workspace_id=ch.workspace_id)
    # Deleted by the service alone (no cache emptied): the next body sees it. The secret still signs
    # for the Meta app (another channel holds it), so the number is kept as unroutable (issue 26).
    logged = count(sim, webhook_log)
    assert sim.post_webhook(alone).status_code == 200
    assert count(sim, webhook_log) == logged + 1
    assert last_outcome(sim)["messages"] == 0 and last_outcome(sim)["unroutable"] == [ch.phone_number_id]
    # Beside a change its own channel signs, the deleted number's change is kept as unroutable.
    assert sim.post_webhook(mixed).status_code == 200
    with sim.runtime.db.read() as conn:
        row = conn.execute(
            select(webhook_log.c.outcome, webhook_log.c.unroutable).order_by(webhook_log.c.id.desc()).limit(1)
        ).one()
    assert row[0]["unroutable"] == [ch.phone_number_id] and row[1] is True
    assert row[0]["messages"] == 1
    # Once no channel holds that secret, nothing vouches for it.
    delete_channel(sim.runtime.ctx, other.id, workspace_id=other.workspace_id)
    assert sim.post_webhook(body(sim, ch, "4955")).status_code == 403
    assert count(sim, webhook_log) == logged + 2


def test_an_app_secret_rotated_through_the_services_counts_for_the_very_next_webhook(any_sim: Simulator) -> None:
    sim = any_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id="4911")  # the old secret is now held in memory by the endpoint
    logged = count(sim, webhook_log)
    # The service itself, not the REST API: nothing empties the endpoint's memory but the version row.
    channel_service.update_credentials(sim.runtime.ctx, ch.id, app_secret="rotated-secret")
    stale = body(sim, ch, "4923")
    refused = sim.post_webhook(stale, sign=False, headers={SIGNATURE_HEADER: sign(sim.app_secret, stale)})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "signature_invalid"
    assert count(sim, webhook_log) == logged  # nothing of it stored
    new = body(sim, ch, "4933")
    accepted = sim.post_webhook(new, sign=False, headers={SIGNATURE_HEADER: sign("rotated-secret", new)})
    assert accepted.status_code == 200
    assert count(sim, webhook_log) == logged + 1
    assert sim.session(ch, wa_id="4933").status == "active"
    assert count(sim, sessions) == 2  # 4911 and 4933; the refused body opened nothing


# -- group commit: the ack path ------------------------------------------------------------------------


def gate_first_group(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the writer stop inside the first group's transaction until `release` is set."""
    started, release = threading.Event(), threading.Event()
    real = group_commit.log_bodies
    calls = [0]

    def gated(conn: Any, bodies: Any, now: Any) -> list[IngestResult]:
        calls[0] += 1
        if calls[0] == 1:
            started.set()
            assert release.wait(WAIT)
        return real(conn, bodies, now)

    monkeypatch.setattr(group_commit, "log_bodies", gated)
    return started, release


def results(futures: list[Future[IngestResult]]) -> list[IngestResult | BaseException]:
    out: list[IngestResult | BaseException] = []
    for f in futures:
        exc = f.exception(WAIT)
        out.append(exc if exc is not None else f.result())
    return out


def writer(sim: Simulator, commits: list[int] | None = None) -> GroupCommit:
    return GroupCommit(sim.runtime.ctx, lambda: commits.append(1) if commits is not None else None)


def test_bodies_waiting_for_the_writer_share_one_transaction(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = sim.add_channel()
    commits: list[int] = []
    group = writer(sim, commits)
    started, release = gate_first_group(monkeypatch)
    first = group.submit(body(sim, ch, "4900"), None)
    assert started.wait(WAIT)
    rest = [group.submit(body(sim, ch, f"49{n:02d}"), None) for n in range(1, 11)]
    assert not first.done()  # not answered before its transaction commits
    release.set()
    done = results([first, *rest])
    assert all(isinstance(r, IngestResult) and not r.replay for r in done)
    assert (group.groups, group.largest) == (2, 10)
    assert commits == [1, 1]  # the apply queue is woken after each commit
    assert len({r.log_id for r in done if isinstance(r, IngestResult)}) == 11
    # A 200 means logged: nothing is applied until the apply queue runs.
    assert count(sim, webhook_log) == 11 and inbound(sim) == 0
    applied = sim.runtime.ingestor.drain()
    assert len(applied) == 11 and all(r.opened == 1 for r in applied.values())
    assert inbound(sim) == 11 and count(sim, webhook_log, webhook_log.c.processed_at.is_(None)) == 0


def test_a_groups_answers_on_an_event_loop_wake_it_once(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ack path waits on its event loop's own futures: the writer answers a whole group with one call to
    the loop (one wake-up), and a group that fails answers each of them with its error."""
    ch = sim.add_channel()
    group = writer(sim)
    started, release = gate_first_group(monkeypatch)
    thread_future = group.submit(body(sim, ch, "4900"), None)  # a thread's future, answered in the writer
    assert started.wait(WAIT)

    async def acks() -> list[Any]:
        loop = asyncio.get_running_loop()
        calls: list[int] = []
        real = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any) -> Any:
            calls.append(1)
            return real(callback, *args)

        loop.call_soon_threadsafe = counted
        waiting = [group.submit(body(sim, ch, f"49{n:02d}"), None, wait=False, loop=loop) for n in range(1, 11)]
        assert all(isinstance(f, asyncio.Future) for f in waiting)
        release.set()
        answers = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), WAIT)
        return [calls, answers]

    calls, answers = asyncio.run(acks())
    assert isinstance(thread_future.result(WAIT), IngestResult)
    assert all(isinstance(a, IngestResult) and not a.replay for a in answers)
    assert len({a.log_id for a in answers}) == 10 and calls == [1]
    assert count(sim, webhook_log) == 11

    def failing(conn: Any, bodies: Any, now: Any) -> list[IngestResult]:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(group_commit, "log_bodies", failing)

    async def refused() -> list[Any]:
        loop = asyncio.get_running_loop()
        waiting = [group.submit(body(sim, ch, f"48{n:02d}"), None, wait=False, loop=loop) for n in range(3)]
        return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), WAIT)

    assert all(isinstance(a, RuntimeError) for a in asyncio.run(refused()))
    assert count(sim, webhook_log) == 11


def test_a_group_that_cannot_commit_fails_its_requests_and_stores_nothing(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = sim.add_channel()
    real = group_commit.log_bodies

    def failing(conn: Any, bodies: Any, now: Any) -> list[IngestResult]:
        real(conn, bodies, now)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(group_commit, "log_bodies", failing)
    group = writer(sim)
    done = results([group.submit(body(sim, ch, "4900"), None)])
    assert isinstance(done[0], RuntimeError)  # the endpoint answers 500: Meta retries
    assert count(sim, webhook_log) == 0
    monkeypatch.setattr(group_commit, "log_bodies", real)
    assert isinstance(results([group.submit(body(sim, ch, "4901"), None)])[0], IngestResult)
    assert count(sim, webhook_log) == 1


def test_the_writer_bounds_the_bodies_waiting_in_memory(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = sim.add_channel()
    group = GroupCommit(sim.runtime.ctx, lambda: None, max_waiting=3)
    started, release = gate_first_group(monkeypatch)
    futures = [group.submit(body(sim, ch, "4900"), None)]
    assert started.wait(WAIT)
    futures += [group.submit(body(sim, ch, f"49{n:02d}"), None) for n in (1, 2, 3)]
    blocked = threading.Event()

    def fifth() -> None:
        futures.append(group.submit(body(sim, ch, "4904"), None))
        blocked.set()

    thread = threading.Thread(target=fifth)
    thread.start()
    assert not blocked.wait(0.2)  # three wait already: the fifth request waits for room
    release.set()
    assert blocked.wait(WAIT)
    thread.join(WAIT)
    assert all(isinstance(r, IngestResult) for r in results(futures))
    assert count(sim, webhook_log) == 5


def test_duplicates_within_one_group_are_stored_once(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ch = sim.add_channel()
    group = writer(sim)
    started, release = gate_first_group(monkeypatch)
    futures = [group.submit(body(sim, ch, "4900"), None)]
    assert started.wait(WAIT)
    wamid = new_wamid("4911")
    replayed = body(sim, ch, "4911", wamid=wamid)
    futures += [group.submit(replayed, None) for _ in range(2)]
    # Meta's retry of the same message in other bytes (another batch): logged, a duplicate (R4).
    futures.append(group.submit(body(sim, ch, "4911", text="hi again", wamid=wamid), None))
    release.set()
    done = [r for r in results(futures) if isinstance(r, IngestResult)]
    assert [r.replay for r in done] == [False, False, True, False]
    assert done[2].log_id == done[1].log_id  # the same bytes: the row already stored
    assert count(sim, webhook_log) == 3
    applied = sim.runtime.ingestor.drain()
    assert [applied[r.log_id].messages for r in done if not r.replay] == [1, 1, 0]
    assert [applied[r.log_id].duplicates for r in done if not r.replay] == [0, 0, 1]
    assert inbound(sim) == 2
    # The same bytes again later: answered with the stored row, nothing new.
    again = results([group.submit(replayed, None)])[0]
    assert isinstance(again, IngestResult) and again.replay and again.log_id == done[1].log_id
    assert count(sim, webhook_log) == 3


# -- wake-ups -------------------------------------------------------------------------------------------


def idle_loops(sim: Simulator) -> dict[str, Loop]:
    """Loops registered with the runtime but not started, so their wake-ups can be read."""
    runtime = sim.runtime
    nothing: Callable[[], None] = lambda: None  # noqa: E731
    for name in ("due", "sender", "events", "relay"):
        runtime.add_loop(name, nothing, lambda: None)
    return {loop.name: loop for loop in runtime.loops}


def woken(loops: dict[str, Loop]) -> set[str]:
    out = {name for name, loop in loops.items() if loop._wake.is_set()}
    for loop in loops.values():
        loop._wake.clear()
    return out


def test_a_webhook_wakes_the_event_loop_and_the_due_loop_only_for_work_due_soon(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="24h")
    loops = idle_loops(sim)
    sim.customer_message(ch, wa_id="4911")
    assert woken(loops) == set()  # no event webhook, no forward target: no one to tell; due times hours away
    hook_service.create_webhook(
        sim.runtime.ctx, workspace_id=ch.workspace_id, url="https://hooks.example.com/in", secret="s" * 24
    )
    assert woken(loops) == {"due", "sender", "events", "relay"}  # a new subscriber: every loop looks
    sim.customer_message(ch, wa_id="4912")
    assert woken(loops) == {"events"}  # its due times are hours away; ingest queues no sends
    sim.runtime.wake_after_ingest(IngestResult(messages=1, due_at=sim.now + timedelta(seconds=1)))
    assert woken(loops) == {"events", "due"}
    sim.runtime.wake_after_ingest(IngestResult(messages=1, due_at=sim.now + timedelta(seconds=2)))
    assert woken(loops) == {"events"}
    forward_service.create_forward(
        sim.runtime.ctx, ch.id, workspace_id=ch.workspace_id, url="https://relay.example.com/in"
    )
    woken(loops)
    sim.customer_message(ch, wa_id="4913")
    assert woken(loops) == {"events", "relay"}
    sim.runtime.wake()  # other services still wake every loop
    assert woken(loops) == {"events", "due", "sender", "relay"}


def test_a_late_message_that_makes_a_session_due_at_once_wakes_the_due_loop(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="2h")
    loops = idle_loops(sim)
    # Written 3 h ago (delivered late): the session it opens is already past its timeout.
    sim.customer_message(ch, wa_id="4911", at=sim.now - timedelta(hours=3))
    assert "due" in woken(loops)

"""Event webhooks never lose an event (the transactional outbox), event ids never repeat, and one slow or
hostile receiver cannot hold a call past its deadline, make us read a huge answer, or delay another."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from tests.conftest import fresh_postgres_url
from tests.support.security import Tenant, tenant_of
from tests.support.servers import answer_after, answer_huge, answer_ok, answer_trickling, serve
from wasession.store import events as event_store
from wasession.store import migrate
from wasession.store.db import connect
from wasession.store.schema import events as events_table
from wasession.testing import Simulator


def received_ids(requests: list[bytes]) -> list[int]:
    return [json.loads(body)["event_id"] for body in requests]


@pytest.fixture
def pg_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, str]]:
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    for url in fresh_postgres_url():
        with Simulator(start="2026-01-05T15:00:00Z", database_url=url) as sim:
            yield sim, url


@pytest.mark.postgres
def test_an_event_committed_late_with_a_smaller_id_is_delivered_exactly_once(pg_sim: tuple[Simulator, str]) -> None:
    sim, url = pg_sim
    tenant = tenant_of(sim)
    other = connect(url)  # another process's connection: one long transaction
    with serve(answer_ok) as crm:
        tenant.add_hook(crm.url)
        long = other.writer.connect()
        long_tx = long.begin()
        event_store.add(long, workspace_id=tenant.workspace_id, type="customer_message", at=sim.now, data={"n": 0})
        for n in range(1, 41):  # many short transactions commit later ids meanwhile
            with sim.runtime.ctx.db.write() as conn:
                event_store.add(
                    conn, workspace_id=tenant.workspace_id, type="customer_message", at=sim.now, data={"n": n}
                )
        sim.run_due()
        assert len(crm.requests) == 40  # the short ones were not held up by the open transaction
        long_tx.commit()
        long.close()
        sim.run_due()
        sim.run_due()  # a further step finds nothing more
        got = received_ids([r.body for r in crm.requests])
    other.dispose()
    with sim.runtime.ctx.db.read() as conn:
        committed = conn.execute(select(events_table.c.id).where(events_table.c.type == "customer_message")).scalars()
        expected = sorted(committed)
    assert len(expected) == 41
    assert sorted(got) == expected  # every event, each exactly once
    assert len(set(got)) == len(got)


def test_event_ids_never_repeat_after_the_newest_are_deleted(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    ws = local_allowed.workspace_id
    with sim.runtime.ctx.db.write() as conn:
        for n in range(5):
            event_store.add(conn, workspace_id=ws, type="policy_changed", at=sim.now, data={"n": n})
        newest = conn.execute(select(func.max(events_table.c.id))).scalar_one()
        # What deleting a channel does to its events through ON DELETE CASCADE.
        conn.execute(delete(events_table).where(events_table.c.id > newest - 3))
    with sim.runtime.ctx.db.write() as conn:
        event_store.add(conn, workspace_id=ws, type="policy_changed", at=sim.now, data={"n": "after"})
        again = conn.execute(select(func.max(events_table.c.id))).scalar_one()
    assert again > newest, "a receiver deduping on event ids would drop this new event"


def test_the_migration_keeps_queued_deliveries_and_stops_id_reuse(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        migrate.upgrade(db, "0002")
        at = datetime(2026, 1, 5, 15, tzinfo=UTC).isoformat()
        with db.write() as conn:
            conn.execute(text("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'w', :at)"), {"at": at})
            conn.execute(
                text(
                    "INSERT INTO event_webhooks (id, workspace_id, url, secret_enc, description, enabled, created_at)"
                    " VALUES (1, 1, 'https://crm.example/h', 'x', '', true, :at)"
                ),
                {"at": at},
            )
            for i in (1, 2, 3):
                conn.execute(
                    text("INSERT INTO events (id, workspace_id, type, at, data) VALUES (:i, 1, 'note', :at, '{}')"),
                    {"i": i, "at": at},
                )
            conn.execute(
                text(
                    "INSERT INTO event_deliveries (webhook_id, event_id, payload, status, attempts, created_at)"
                    " VALUES (1, 3, '{\"event_id\": 3}', 'pending', 0, :at)"
                ),
                {"at": at},
            )
        migrate.upgrade(db)
        with db.write() as conn:
            assert conn.execute(text("SELECT event_id FROM event_deliveries")).scalars().all() == [3]
            conn.execute(text("DELETE FROM events WHERE id = 3"))  # cascades to its delivery
            conn.execute(
                text("INSERT INTO events (workspace_id, type, at, data) VALUES (1, 'note', :at, '{}')"), {"at": at}
            )
            assert conn.execute(text("SELECT max(id) FROM events")).scalar_one() == 4
    finally:
        db.dispose()


def test_a_trickling_receiver_is_cut_at_the_total_deadline(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    sim.runtime.event_dispatch.deadline = 1.0
    with serve(answer_trickling(every=0.2, total=8.0)) as slow:
        hook = local_allowed.add_hook(slow.url)
        sim.add_channel()  # a channel_created event
        started = time.monotonic()
        sim.run_due()
        took = time.monotonic() - started
        assert slow.done.wait(10)
    assert took < 2.5, f"a byte every 0.2 s held the call {took:.1f} s past a 1 s deadline"
    assert slow.written < 15  # the server was cut off after ~5 bytes, not allowed to trickle on
    (d,) = local_allowed.deliveries(hook["id"])
    assert d["status"] == "pending" and d["last_error"] == "timeout" and d["last_status_code"] is None


def test_a_huge_answer_is_not_read_whole(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    size = 200 * 1024 * 1024
    with serve(answer_huge(size)) as huge:
        hook = local_allowed.add_hook(huge.url)
        sim.add_channel()
        started = time.monotonic()
        sim.run_due()
        took = time.monotonic() - started
        assert huge.done.wait(10)
    assert huge.written < 32 * 1024 * 1024, f"{huge.written} bytes were taken from a {size}-byte answer"
    assert took < 5
    (d,) = local_allowed.deliveries(hook["id"])
    assert d["status"] == "delivered" and d["last_status_code"] == 200  # the receiver said yes; the rest is noise


def test_a_slow_webhook_does_not_delay_another(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    with serve(answer_after(2.0)) as slow, serve(answer_ok) as fast:
        local_allowed.add_hook(slow.url)  # first: it would be called first, and everyone would wait
        fast_hook = local_allowed.add_hook(fast.url)
        sim.add_channel()
        sim.run_due()
        assert slow.done.wait(10)
    assert len(fast.requests) == 1 and len(slow.requests) == 1
    # The slow receiver answers after 2 s: the fast one was called while it still held its call. (A bound
    # on the wall clock, < 1 s from the step's start, failed at 1.10 s when the suite's workers overlapped.)
    assert fast.requests[0].at < slow.finished_at[0], "the fast receiver waited for the slow one"
    (d,) = local_allowed.deliveries(fast_hook["id"])
    assert d["status"] == "delivered"


def test_one_webhook_gets_its_events_one_call_at_a_time_in_order(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    with serve(answer_after(0.05)) as crm:
        local_allowed.add_hook(crm.url)
        with sim.runtime.ctx.db.write() as conn:
            for n in range(6):
                ws = local_allowed.workspace_id
                event_store.add(conn, workspace_id=ws, type="policy_changed", at=sim.now, data={"n": n})
        sim.run_due()
        got = received_ids([r.body for r in crm.requests])
        spans = list(zip([r.at for r in crm.requests], crm.finished_at, strict=True))
    assert got == sorted(got) and len(got) == 6
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end - 0.01  # never two calls at once to one receiver

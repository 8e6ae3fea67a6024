"""PostgreSQL with several processes: ids that commit out of order are not skipped, and one process at a
time delivers a target (two relays over one database give each body once)."""

from __future__ import annotations

import pytest

from tests.http.security.test_event_delivery import pg_sim  # noqa: F401 (the fixture)
from tests.support.relay import Scripted, api_of, customer_body, post
from tests.support.servers import serve
from wasession.engine.relay import HORIZON, Relay
from wasession.store import webhook_log
from wasession.store.db import connect
from wasession.testing import Simulator

pytestmark = pytest.mark.postgres


def test_a_body_committed_late_with_a_smaller_id_is_delivered_in_its_place(pg_sim: tuple[Simulator, str]) -> None:  # noqa: F811 (the imported fixture)
    sim, url = pg_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    other = connect(url)  # another process's connection: its transaction takes an id, then commits late
    with serve(crm) as receiver:
        api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url})
        late = customer_body(sim, ch, "late")
        long = other.writer.connect()
        long_tx = long.begin()
        webhook_log.append(long, late.raw, sim.now, late.signature)
        early = customer_body(sim, ch, "early")
        post(sim, early)
        sim.run_due()
        assert crm.taken == []  # the larger id waits: the smaller one may still commit
        long_tx.commit()
        long.close()
        sim.advance(HORIZON)
    other.dispose()
    assert crm.taken == [(late.raw, late.signature), (early.raw, early.signature)]


def test_two_processes_deliver_each_body_to_a_target_once(pg_sim: tuple[Simulator, str]) -> None:  # noqa: F811 (the imported fixture)
    sim, _ = pg_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    second = Relay(sim.runtime.ctx, owner="other-host:1", policy=sim.runtime.relay.policy)
    try:
        with serve(crm) as receiver:
            api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url})
            sent = [customer_body(sim, ch, f"m{n}") for n in range(6)]
            for s in sent:
                post(sim, s)
            second.wait = False  # it holds the lease while this process's relay steps
            second.run_pending()
            sim.runtime.relay.run_pending()
            second.close()  # waits for its deliveries
            sim.run_due()
    finally:
        second.close()
    assert crm.taken == [(s.raw, s.signature) for s in sent]

"""A captured, correctly signed body posted again is answered 200 and stores nothing new."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.schema import events, messages, webhook_log
from wasession.testing import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


def counts(sim: Simulator) -> tuple[int, int, int]:
    with sim.runtime.db.read() as conn:
        found = [
            int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in (webhook_log, messages, events)
        ]
    return found[0], found[1], found[2]


def test_a_replayed_body_is_acknowledged_and_stored_once(sim: Simulator) -> None:
    ch = sim.add_channel()
    raw = json.dumps(
        text_message_body(
            phone_number_id=ch.phone_number_id, wa_id="4911", name="A", text="hi", timestamp=sim.now, wamid=new_wamid()
        )
    ).encode()
    first = sim.post_webhook(raw)
    assert first.status_code == 200
    stored = counts(sim)
    for _ in range(3):
        again = sim.post_webhook(raw)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert counts(sim) == stored
    # One byte more is another body: stored, and its known wamid changes nothing else (R4).
    assert sim.post_webhook(raw + b" ").status_code == 200
    assert counts(sim)[0] == stored[0] + 1 and counts(sim)[1] == stored[1]


def test_a_replay_with_a_bad_signature_is_still_refused(sim: Simulator) -> None:
    ch = sim.add_channel()
    body = text_message_body(phone_number_id=ch.phone_number_id, wa_id="4911", name="A", text="hi", timestamp=sim.now)
    raw = json.dumps(body).encode()
    assert sim.post_webhook(raw).status_code == 200
    assert sim.post_webhook(raw, sign=False, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403


def test_a_body_pruned_out_of_retention_is_stored_again(sim: Simulator) -> None:
    from wasession.ingest import prune_webhook_log

    ch = sim.add_channel()
    body = text_message_body(phone_number_id=ch.phone_number_id, wa_id="4911", name="A", text="hi", timestamp=sim.now)
    assert sim.post_webhook(body).status_code == 200
    sim.advance("31d")
    assert prune_webhook_log(sim.runtime.ctx, 30) == 1
    assert sim.post_webhook(body).status_code == 200
    assert counts(sim)[0] == 1

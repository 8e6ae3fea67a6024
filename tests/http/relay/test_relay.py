"""The relay on the Simulator's manual clock, on SQLite and PostgreSQL: every accepted webhook reaches each
forward target exactly as received, in order, through failures, pauses and replays."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from tests.support.relay import Scripted, Sent, api_of, customer_body, one_target, post
from tests.support.servers import serve
from wasession.engine.relay import FIRST_RETRY, HORIZON, retry_delay
from wasession.ingest import prune_webhook_log
from wasession.store import webhook_log
from wasession.store.schema import webhook_log as webhook_log_table
from wasession.testing import Simulator
from wasession.whatsapp.signature import sign

OWN_SECRET = "a-crm-secret-of-its-own"


def as_sent(sent: list[Sent]) -> list[tuple[bytes, str | None]]:
    return [(s.raw, s.signature) for s in sent]


def test_two_targets_get_every_body_as_received_in_order_across_a_failing_one(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    steady, flaky = Scripted(), Scripted([500, 500, 503])
    with serve(steady) as one, serve(flaky) as two:
        for url in (one.url, two.url):
            assert api.call("POST", f"/channels/{ch.id}/forwards", json={"url": url}).status_code == 201
        sent = [customer_body(sim, ch, f"message {n} – ünïcode") for n in range(5)]
        for s in sent:
            post(sim, s)
        sim.run_due()
        assert steady.taken == as_sent(sent)  # the healthy target is not held up by the failing one
        assert flaky.taken == []  # first attempt failed; it waits for its retry
        sim.advance(FIRST_RETRY)
        assert flaky.taken == []
        sim.advance(retry_delay(2))
        assert flaky.taken == []
        sim.advance(retry_delay(3))
        assert flaky.taken == as_sent(sent)
        assert len(two.requests) == 3 + len(sent)  # the failed body was tried again, nothing else twice
    assert all(b"\\u00fc" in raw for raw, _ in steady.taken)  # escaped as Meta sends, not re-serialised


def test_the_delivery_log_records_each_attempt(relay_sim: Simulator) -> None:
    with one_target(relay_sim, [500]) as t:
        _, log_id = t.post("hi")
        relay_sim.run_due()
        relay_sim.advance(FIRST_RETRY)
    items = t.api.call("GET", t.path + "/deliveries").json()["items"]
    assert [(a["log_id"], a["attempt"], a["outcome"], a["status_code"]) for a in items] == [
        (log_id, 2, "delivered", 200),
        (log_id, 1, "failed", 500),
    ]
    assert items[1]["error"] == "http_500" and items[0]["duration_ms"] >= 0
    target = t.api.call("GET", t.path).json()
    assert target["cursor"] == log_id and target["attempts"] == 0


def test_a_target_with_its_own_secret_gets_the_body_signed_with_it(relay_sim: Simulator) -> None:
    with one_target(relay_sim, secret=OWN_SECRET) as t:
        assert t.created.json()["secret"] == "********"
        assert OWN_SECRET not in t.created.text
        sent, _ = t.post("hi")
        relay_sim.run_due()
    assert t.crm.taken == [(sent.raw, sign(OWN_SECRET, sent.raw))]
    assert OWN_SECRET not in t.api.call("GET", f"/channels/{t.channel.id}/forwards").text


def status_body(phone_number_id: str) -> dict[str, object]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": phone_number_id},
        "statuses": [{"id": "wamid.x", "status": "sent", "timestamp": "1", "recipient_id": "4915"}],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def test_fields_and_channel_choose_what_a_target_is_given(relay_sim: Simulator) -> None:
    sim = relay_sim
    with one_target(sim, fields=["statuses"]) as t:
        everything = Scripted()
        with serve(everything) as b:
            t.api.call("POST", f"/channels/{t.channel.id}/forwards", json={"url": b.url})
            message, _ = t.post("hi")
            post(sim, customer_body(sim, sim.add_channel(), "for another channel"))
            raw = json.dumps(status_body(t.channel.phone_number_id)).encode()
            status = Sent(raw, sign(sim.app_secret, raw))
            post(sim, status)
            sim.run_due()
    assert t.crm.taken == as_sent([status])
    assert everything.taken == as_sent([message, status])


def test_a_body_the_channel_did_not_sign_is_never_passed_on(relay_sim: Simulator) -> None:
    """The log may hold a body whose change for this channel failed its signature check (another
    channel's secret signed it); re-signing it would vouch for a forgery."""
    sim = relay_sim
    with one_target(sim, secret=OWN_SECRET) as t:
        forged = customer_body(sim, t.channel, "forged")
        with sim.runtime.db.log.write() as conn:
            webhook_log.append(conn, forged.raw, sim.now, sign("not-the-app-secret", forged.raw))
        genuine, _ = t.post("genuine")
        sim.run_due()
    assert t.crm.taken == [(genuine.raw, sign(OWN_SECRET, genuine.raw))]


def test_pause_holds_bodies_and_resume_delivers_them_in_order(relay_sim: Simulator) -> None:
    with one_target(relay_sim) as t:
        paused = t.api.call("POST", t.path + "/pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True
        sent = [t.post(f"m{n}")[0] for n in range(3)]
        relay_sim.advance("1h")
        assert t.crm.taken == []
        assert t.api.call("POST", t.path + "/resume").json()["paused"] is False
        relay_sim.run_due()
    assert t.crm.taken == as_sent(sent)


def test_replay_from_a_log_id_and_from_a_time(relay_sim: Simulator) -> None:
    sim = relay_sim
    with one_target(sim) as t:
        sent, ids = [], []
        for n in range(4):
            s, log_id = t.post(f"m{n}")
            sent.append(s)
            ids.append(log_id)
            sim.advance("1m")
        assert t.crm.taken == as_sent(sent)
        t.crm.taken.clear()
        replayed = t.api.call("POST", t.path + "/replay", json={"from_log_id": ids[2]})
        assert replayed.status_code == 200 and replayed.json()["cursor"] == ids[2] - 1
        sim.run_due()
        assert t.crm.taken == as_sent(sent[2:])
        t.crm.taken.clear()
        since = (sim.now - timedelta(minutes=2, seconds=30)).isoformat()
        t.api.call("POST", t.path + "/replay", json={"since": since})
        sim.run_due()
        assert t.crm.taken == as_sent(sent[2:])
        bad = t.api.call("POST", t.path + "/replay", json={})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "from_log_id"


def test_a_body_is_given_up_after_seven_days_and_the_next_one_is_delivered(relay_sim: Simulator) -> None:
    sim = relay_sim
    with one_target(sim, [500] * 1000) as t:
        t.post("lost")
        sim.advance("6d23h")
        assert t.api.call("GET", t.path).json()["attempts"] > 5
        sim.advance("2h")
        t.crm.left.clear()
        later, _ = t.post("after")
        sim.run_due()
    assert t.crm.taken == as_sent([later])
    outcomes = [a["outcome"] for a in t.api.call("GET", t.path + "/deliveries").json()["items"]]
    assert outcomes[0] == "delivered" and outcomes[1] == "given_up"
    assert set(outcomes[2:]) == {"failed"}


def test_retention_keeps_the_bodies_a_target_has_not_taken(relay_sim: Simulator) -> None:
    sim = relay_sim
    with one_target(sim) as t:
        t.api.call("POST", t.path + "/pause")
        sent, _ = t.post("kept")
        sim.advance("2d")
        assert prune_webhook_log(sim.runtime.ctx, 1) == 0  # the paused target still needs it
        t.api.call("POST", t.path + "/resume")
        sim.run_due()
        assert t.crm.taken == as_sent([sent])
        assert prune_webhook_log(sim.runtime.ctx, 1) == 1
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_log_table)).scalar() == 0


def test_a_gap_in_the_log_ids_is_passed_only_after_the_horizon(relay_sim: Simulator) -> None:
    """On PostgreSQL a smaller id can commit after a larger one: the cursor waits before a gap."""
    sim = relay_sim
    with one_target(sim) as t:
        first, _ = t.post("first")
        sim.run_due()
        hole = customer_body(sim, t.channel, "rolled back")
        with sim.runtime.db.log.write() as conn:  # an id taken and given back, as a rolled-back insert does
            webhook_log.remove(conn, webhook_log.append(conn, hole.raw, sim.now, hole.signature))
        after, _ = t.post("after the gap")
        sim.run_due()
        assert t.crm.taken == as_sent([first])
        sim.advance(HORIZON)
    assert t.crm.taken == as_sent([first, after])

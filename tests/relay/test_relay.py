"""The relay on the Simulator's manual clock, on SQLite and PostgreSQL: every accepted webhook reaches each
forward target exactly as received, in order, through failures, pauses and replays."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from tests.relay.conftest import Scripted, Sent, api_of, customer_body, post
from tests.security.servers import serve
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
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    with serve(Scripted([500])) as crm:
        fid = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": crm.url}).json()["id"]
        log_id = post(sim, customer_body(sim, ch, "hi"))
        sim.run_due()
        sim.advance(FIRST_RETRY)
    page = api.call("GET", f"/channels/{ch.id}/forwards/{fid}/deliveries").json()
    items = page["items"]
    assert [(a["log_id"], a["attempt"], a["outcome"], a["status_code"]) for a in items] == [
        (log_id, 2, "delivered", 200),
        (log_id, 1, "failed", 500),
    ]
    assert items[1]["error"] == "http_500" and items[0]["duration_ms"] >= 0
    target = api.call("GET", f"/channels/{ch.id}/forwards/{fid}").json()
    assert target["cursor"] == log_id and target["attempts"] == 0


def test_a_target_with_its_own_secret_gets_the_body_signed_with_it(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        created = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url, "secret": OWN_SECRET})
        assert created.json()["secret"] == "********"
        assert OWN_SECRET not in created.text
        sent = customer_body(sim, ch, "hi")
        post(sim, sent)
        sim.run_due()
    assert crm.taken == [(sent.raw, sign(OWN_SECRET, sent.raw))]
    assert OWN_SECRET not in api.call("GET", f"/channels/{ch.id}/forwards").text


def test_fields_and_channel_choose_what_a_target_is_given(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch, other = sim.add_channel(), sim.add_channel()
    api = api_of(sim)
    statuses_only, everything = Scripted(), Scripted()
    with serve(statuses_only) as a, serve(everything) as b:
        api.call("POST", f"/channels/{ch.id}/forwards", json={"url": a.url, "fields": ["statuses"]})
        api.call("POST", f"/channels/{ch.id}/forwards", json={"url": b.url})
        message = customer_body(sim, ch, "hi")
        post(sim, message)
        post(sim, customer_body(sim, other, "for the other channel"))
        status = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "1", "phone_number_id": ch.phone_number_id},
                                "statuses": [
                                    {"id": "wamid.x", "status": "sent", "timestamp": "1", "recipient_id": "4915"}
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        raw = json.dumps(status).encode()
        status_sent = Sent(raw, sign(sim.app_secret, raw))
        post(sim, status_sent)
        sim.run_due()
    assert statuses_only.taken == as_sent([status_sent])
    assert everything.taken == as_sent([message, status_sent])


def test_a_body_the_channel_did_not_sign_is_never_passed_on(relay_sim: Simulator) -> None:
    """The log may hold a body whose change for this channel failed its signature check (another
    channel's secret signed it); re-signing it would vouch for a forgery."""
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url, "secret": OWN_SECRET})
        forged = customer_body(sim, ch, "forged")
        with sim.runtime.db.write() as conn:
            webhook_log.append(conn, forged.raw, sim.now, sign("not-the-app-secret", forged.raw))
        genuine = customer_body(sim, ch, "genuine")
        post(sim, genuine)
        sim.run_due()
    assert crm.taken == [(genuine.raw, sign(OWN_SECRET, genuine.raw))]


def test_pause_holds_bodies_and_resume_delivers_them_in_order(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        fid = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url}).json()["id"]
        paused = api.call("POST", f"/channels/{ch.id}/forwards/{fid}/pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True
        sent = [customer_body(sim, ch, f"m{n}") for n in range(3)]
        for s in sent:
            post(sim, s)
        sim.advance("1h")
        assert crm.taken == []
        assert api.call("POST", f"/channels/{ch.id}/forwards/{fid}/resume").json()["paused"] is False
        sim.run_due()
    assert crm.taken == as_sent(sent)


def test_replay_from_a_log_id_and_from_a_time(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        fid = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url}).json()["id"]
        sent, ids = [], []
        for n in range(4):
            s = customer_body(sim, ch, f"m{n}")
            ids.append(post(sim, s))
            sent.append(s)
            sim.advance("1m")
        sim.run_due()
        assert crm.taken == as_sent(sent)
        crm.taken.clear()
        replayed = api.call("POST", f"/channels/{ch.id}/forwards/{fid}/replay", json={"from_log_id": ids[2]})
        assert replayed.status_code == 200 and replayed.json()["cursor"] == ids[2] - 1
        sim.run_due()
        assert crm.taken == as_sent(sent[2:])
        crm.taken.clear()
        since = (sim.now - timedelta(minutes=2, seconds=30)).isoformat()
        api.call("POST", f"/channels/{ch.id}/forwards/{fid}/replay", json={"since": since})
        sim.run_due()
        assert crm.taken == as_sent(sent[2:])
        bad = api.call("POST", f"/channels/{ch.id}/forwards/{fid}/replay", json={})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "from_log_id"


def test_a_body_is_given_up_after_seven_days_and_the_next_one_is_delivered(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted([500] * 1000)
    with serve(crm) as receiver:
        fid = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url}).json()["id"]
        post(sim, customer_body(sim, ch, "lost"))
        sim.advance("6d23h")
        assert api.call("GET", f"/channels/{ch.id}/forwards/{fid}").json()["attempts"] > 5
        sim.advance("2h")
        crm.left.clear()
        later = customer_body(sim, ch, "after")
        post(sim, later)
        sim.run_due()
    assert crm.taken == as_sent([later])
    outcomes = [a["outcome"] for a in api.call("GET", f"/channels/{ch.id}/forwards/{fid}/deliveries").json()["items"]]
    assert outcomes[0] == "delivered" and outcomes[1] == "given_up"
    assert set(outcomes[2:]) == {"failed"}


def test_retention_keeps_the_bodies_a_target_has_not_taken(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        fid = api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url}).json()["id"]
        api.call("POST", f"/channels/{ch.id}/forwards/{fid}/pause")
        sent = customer_body(sim, ch, "kept")
        post(sim, sent)
        sim.advance("2d")
        assert prune_webhook_log(sim.runtime.ctx, 1) == 0  # the paused target still needs it
        api.call("POST", f"/channels/{ch.id}/forwards/{fid}/resume")
        sim.run_due()
        assert crm.taken == as_sent([sent])
        assert prune_webhook_log(sim.runtime.ctx, 1) == 1
    with sim.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_log_table)).scalar() == 0


def test_a_gap_in_the_log_ids_is_passed_only_after_the_horizon(relay_sim: Simulator) -> None:
    """On PostgreSQL a smaller id can commit after a larger one: the cursor waits before a gap."""
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    crm = Scripted()
    with serve(crm) as receiver:
        api.call("POST", f"/channels/{ch.id}/forwards", json={"url": receiver.url})
        first = customer_body(sim, ch, "first")
        post(sim, first)
        sim.run_due()
        hole = customer_body(sim, ch, "rolled back")
        with sim.runtime.db.write() as conn:  # an id taken and given back, as a rolled-back insert does
            webhook_log.remove(conn, webhook_log.append(conn, hole.raw, sim.now, hole.signature))
        after = customer_body(sim, ch, "after the gap")
        post(sim, after)
        sim.run_due()
        assert crm.taken == as_sent([first])
        sim.advance(HORIZON)
    assert crm.taken == as_sent([first, after])

"""Send failures: the message is marked failed with the reason, Awaiting goes back to the agent, and
POST /messages/{id}/resend queues it again when that is safe (issue 15, item 6)."""

from __future__ import annotations

import logging

import pytest

from tests.support.api import World, error
from wasession.domain.states import MessageStatus
from wasession.store import messages as message_store

ANA = "15550001111"


def _failed_reply(world: World, code: int = 131026) -> tuple[int, int]:
    sim = world.sim
    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana Silva", text="hello")
    sid = sim.session(ch, wa_id=ANA).id
    sim.fake.fail_next(code)
    mid = world.a.post(f"/sessions/{sid}/messages", json={"body": "Your order ships today"}).json()["message_id"]
    sim.advance("2s")
    return sid, mid


def test_a_failed_reply_is_failed_keeps_the_agent_awaited_and_logs_one_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wasession.send"):
        sid, mid = _failed_reply(world)
    detail = world.a.get(f"/sessions/{sid}").json()
    reply = next(m for m in detail["transcript"] if m["id"] == mid)
    assert reply["status"] == "failed" and reply["error_code"] == 131026
    assert detail["session"]["awaiting"] == "agent"  # the customer never got an answer
    lines = [r.getMessage() for r in caplog.records if "send failed" in r.getMessage()]
    assert lines == [
        f"send failed: channel=Sim channel message={mid} kind=agent reason=WhatsApp could not deliver to this "
        "number: it may not be on WhatsApp or use an old app."
    ]


def test_resend_queues_a_copy_that_goes_out_once(world: World) -> None:
    sid, mid = _failed_reply(world)
    again = world.a.post(f"/messages/{mid}/resend")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    world.sim.advance("10s")
    detail = world.a.get(f"/sessions/{sid}").json()
    copy = next(m for m in detail["transcript"] if m["id"] == again.json()["message_id"])
    assert copy["body"] == "Your order ships today" and copy["status"] in ("accepted", "sent", "delivered", "read")
    assert detail["session"]["awaiting"] == "customer"
    resent = [e for e in detail["timeline"] if e["type"] == "message_resent"]
    assert [e["data"]["resent_from"] for e in resent] == [mid]
    error(world.a.post(f"/messages/{mid}/resend"), 409, "already_resent")
    error(world.a.post(f"/messages/{copy['id']}/resend"), 409, "not_failed")


def test_an_unknown_outcome_is_resent_only_when_acknowledged(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="hello")
    sid = sim.session(ch, wa_id=ANA).id
    mid = world.a.post(f"/sessions/{sid}/messages", json={"body": "maybe"}).json()["message_id"]
    with sim.runtime.ctx.db.write() as conn:  # the connection broke mid-request
        message_store.update_message(conn, mid, status=MessageStatus.UNKNOWN)
    error(world.a.post(f"/messages/{mid}/resend"), 409, "maybe_sent")
    assert len(sim.transcript(sid)) == 2
    assert world.a.post(f"/messages/{mid}/resend", params={"maybe_sent": "true"}).status_code == 202
    assert len(sim.transcript(sid)) == 3


def test_resend_is_scoped_and_refuses_reminders_and_closed_windows(world: World) -> None:
    sid, mid = _failed_reply(world)
    error(world.b.post(f"/messages/{mid}/resend"), 404, "not_found")
    error(world.a.post("/messages/999999/resend"), 404, "not_found")
    inbound = world.sim.transcript(sid)[0].id
    error(world.a.post(f"/messages/{inbound}/resend"), 409, "not_resendable")
    world.sim.advance("24h")
    error(world.a.post(f"/messages/{mid}/resend"), 409, "window_closed")
    assert len(world.sim.transcript(sid)) == 2


def test_a_failed_status_after_acceptance_counts_as_failed_in_metrics(world: World) -> None:
    sim = world.sim
    ch = sim.add_channel(session_timeout="48h")
    sim.customer_message(ch, wa_id=ANA, name="Ana", text="hello")
    sid = sim.session(ch, wa_id=ANA).id

    def count(outcome: str) -> float:
        for line in sim.client.get("/metrics").text.splitlines():
            if line.startswith(f'wasession_sends_total{{kind="agent",outcome="{outcome}"}}'):
                return float(line.split()[-1])
        return 0.0

    before_failed, before_accepted = count("failed"), count("accepted")
    sim.fake.forget_customer(ch.phone_number_id, ANA)  # Meta takes it, then fails it with 131047
    world.a.post(f"/sessions/{sid}/messages", json={"body": "hi"})
    sim.advance("1m")
    assert count("accepted") - before_accepted == 1
    assert count("failed") - before_failed == 1
    assert world.a.get(f"/sessions/{sid}").json()["session"]["awaiting"] == "agent"

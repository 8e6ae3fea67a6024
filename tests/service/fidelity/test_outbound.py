"""Outbound fidelity: statuses in every order (R15), callback data, templates at any time,
fairness between channels, per-recipient pacing, the channel's rate limit, the Graph version."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest

from tests.support.fidelity import ANA, at
from wasession.config import Settings
from wasession.domain.errors import ValidationError
from wasession.outbox import HeldSlots
from wasession.sandbox.bodies import status_body
from wasession.services import agents
from wasession.services.errors import NotFoundError, WindowClosedError
from wasession.store import messages as message_store
from wasession.store.messages import CallbackTarget
from wasession.testing import MessageView, Simulator

# Together more than 10 s on a loaded 2-core machine: out of the loop between two edits.
pytestmark = pytest.mark.slow

RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}


def _expected(sequence: tuple[str, ...]) -> tuple[str, list[str]]:
    """R15 written out: forward only, `read` the last step, `failed` final, `delivered` skippable."""
    state, moves = "accepted", []
    for status in sequence:
        if state in ("read", "failed"):
            continue
        if status == "failed" or RANK[status] > RANK[state]:
            state = status
            moves.append(status)
    return state, moves


SEQUENCES = sorted(
    set(itertools.permutations(("sent", "delivered", "read")))
    | set(itertools.permutations(("sent", "delivered", "read", "failed")))
    | set(itertools.permutations(("sent", "read")))
    | {("read", "read", "sent", "sent"), ("delivered", "delivered"), ("failed", "failed", "read")}
)


def _sent_agent_message(sim: Simulator) -> tuple[int, MessageView]:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    message_id = agents.send_text(sim.runtime.ctx, s.id, "Your order is ready")
    sim.run_due()
    row = sim.message(message_id)
    assert row is not None and row.status == "accepted" and row.wamid
    return ch.id, row


@pytest.mark.parametrize("sequence", SEQUENCES, ids="-".join)
def test_statuses_in_any_order_end_in_the_right_state_with_one_event_per_step(
    quiet_sim: Simulator, sequence: tuple[str, ...]
) -> None:
    sim = quiet_sim
    channel_id, row = _sent_agent_message(sim)
    pnid = sim.channel(channel_id).phone_number_id
    for n, status in enumerate(sequence):
        errors = [{"code": 131026, "title": "Message undeliverable"}] if status == "failed" else []
        body = status_body(
            phone_number_id=pnid,
            wamid=row.wamid or "",
            status=status,
            timestamp=sim.now + timedelta(seconds=n),
            recipient_id=ANA,
            errors=errors,
        )
        for _ in range(2):  # Meta may deliver any webhook twice
            assert sim.post_webhook(body).status_code == 200
    final, moves = _expected(sequence)
    after = sim.message(row.id)
    assert after is not None and after.status == final
    if final == "failed":
        assert after.error_code == 131026
    events = [e.type for e in sim.timeline(row.session_id) if e.type.startswith("message_")]
    assert events == ["message_accepted"] + [f"message_{m}" for m in moves]


def test_reminder_state_follows_out_of_order_statuses(quiet_sim: Simulator) -> None:
    sim = quiet_sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("1h")
    reminder = sim.outbox(ch)[0]
    for status in ("read", "sent", "delivered"):
        body = status_body(
            phone_number_id=ch.phone_number_id,
            wamid=reminder.wamid,
            status=status,
            timestamp=sim.now,
            recipient_id=ANA,
        )
        assert sim.post_webhook(body).status_code == 200
    s = sim.session(ch, wa_id=ANA)
    assert s.reminder_state == "read"
    assert [e.type for e in sim.timeline(s)].count("reminder_read") == 1


def test_agent_and_template_sends_carry_callback_data_that_maps_statuses_back(quiet_sim: Simulator) -> None:
    sim = quiet_sim
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    text_id = agents.send_text(sim.runtime.ctx, s.id, "hello")
    template_id = agents.send_template(sim.runtime.ctx, s.id, "order_ready", "en_US", ["A-17"])
    # The answer to the send is lost: the rows look like an outcome-unknown send.
    with sim.runtime.db.write() as conn:
        for mid in (text_id, template_id):
            message_store.update_message(conn, mid, status="unknown")
    out = sim.outbox(ch)
    assert out == []
    assert CallbackTarget("agent", s.id, text_id).text() == f"wasession:agent:{s.id}:{text_id}"
    for mid, kind in ((text_id, "agent"), (template_id, "template")):
        body = status_body(
            phone_number_id=ch.phone_number_id,
            wamid=f"wamid.lost{mid}",
            status="delivered",
            timestamp=sim.now,
            recipient_id=ANA,
            callback_data=CallbackTarget(kind, s.id, mid).text(),
        )
        assert sim.post_webhook(body).status_code == 200
    rows = [sim.message(mid) for mid in (text_id, template_id)]
    assert [(r.status, r.wamid) for r in rows if r] == [
        ("delivered", f"wamid.lost{text_id}"),
        ("delivered", f"wamid.lost{template_id}"),
    ]
    # A callback naming another session's message changes nothing.
    body = status_body(
        phone_number_id=ch.phone_number_id,
        wamid="wamid.other",
        status="read",
        timestamp=sim.now,
        recipient_id=ANA,
        callback_data=f"wasession:agent:{s.id + 1}:{text_id}",
    )
    sim.post_webhook(body)
    assert sim.message_by_wamid(ch, "wamid.other") is None


def test_sends_carry_their_callback_data_to_meta(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    text_id = agents.send_text(sim.runtime.ctx, s.id, "hello")
    template_id = agents.send_template(sim.runtime.ctx, s.id, "order_ready", "en_US", {"order": "A-17"})
    sim.run_due()
    assert sorted(m.callback_data or "" for m in sim.outbox(ch)) == [
        f"wasession:agent:{s.id}:{text_id}",
        f"wasession:template:{s.id}:{template_id}",
    ]


# -- templates ----------------------------------------------------------------------------------------


def test_template_outside_the_window_and_on_a_closed_session_is_sent(sim: Simulator) -> None:
    ch = sim.add_channel(session_timeout="2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("30h")
    s = sim.session(ch, wa_id=ANA)
    assert s.status == "closed"
    with pytest.raises(WindowClosedError):
        agents.send_text(sim.runtime.ctx, s.id, "still there?")  # R13
    mid = agents.send_template(sim.runtime.ctx, s.id, "order_ready", "pt_BR", {"order_id": "A-17", "name": "Ana"})
    sim.advance("10s")
    out = sim.outbox(ch)
    assert len(out) == 1 and out[0].type == "template"
    template = sim.fake.accepted(ch.phone_number_id)[0].template
    assert template == {
        "name": "order_ready",
        "language": {"code": "pt_BR"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "order_id", "text": "A-17"},
                    {"type": "text", "parameter_name": "name", "text": "Ana"},
                ],
            }
        ],
    }
    row = sim.message(mid)
    assert row is not None and row.status == "read" and row.kind == "template"
    after = sim.session(ch, wa_id=ANA)
    assert after.status == "closed" and after.last_customer_message_at == s.last_customer_message_at  # R8, no reopening
    assert "agent_template" in [e.type for e in sim.timeline(after)]


def test_positional_template_parameters_keep_their_order(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    agents.send_template(sim.runtime.ctx, sim.session(ch, wa_id=ANA).id, "hello_world", "en", ["Ana", "A-17"])
    sim.run_due()
    template = sim.fake.accepted(ch.phone_number_id)[0].template or {}
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Ana", "A-17"]


@pytest.mark.parametrize(
    ("name", "language", "parameters", "field"),
    [
        ("", "en", [], "name"),
        ("Order Ready", "en", [], "name"),
        ("order_ready", "", [], "language"),
        ("order_ready", "english", [], "language"),
        ("order_ready", "en", ["ok", ""], "parameters[1]"),
        ("order_ready", "en", ["ok", 3], "parameters[1]"),
        ("order_ready", "en", {"Bad Name": "x"}, "parameters.Bad Name"),
        ("order_ready", "en", {"order": " "}, "parameters.order"),
        ("order_ready", "en", "just a string", "parameters"),
        ("order_ready", "en", ["x" * 1025], "parameters[0]"),
        ("order_ready", "en", ["x"] * 101, "parameters"),
    ],
)
def test_bad_templates_are_refused_naming_the_field_and_nothing_is_queued(
    sim: Simulator, name: str, language: str, parameters: object, field: str
) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    with pytest.raises(ValidationError) as info:
        agents.send_template(sim.runtime.ctx, s.id, name, language, parameters)  # type: ignore[arg-type]
    assert info.value.field == field
    assert sim.message_count(direction="out") == 0


def test_template_to_an_unknown_session_or_another_workspace_is_not_found(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    with pytest.raises(NotFoundError):
        agents.send_template(sim.runtime.ctx, 999, "order_ready", "en")
    with pytest.raises(NotFoundError):
        agents.send_template(sim.runtime.ctx, s.id, "order_ready", "en", workspace_id=ch.workspace_id + 1)


# -- throughput, fairness, pacing -----------------------------------------------------------------------


def _customers(sim: Simulator, channel_id: int, n: int, prefix: str) -> list[int]:
    ids = []
    for i in range(n):
        wa_id = f"{prefix}{i:05d}"
        sim.customer_message(channel_id, wa_id=wa_id, name=f"C{i}")
        ids.append(sim.session(channel_id, wa_id=wa_id).id)
    return ids


def test_a_busy_channel_does_not_starve_another(sim: Simulator) -> None:
    busy = sim.add_channel(name="busy", rate_limit_per_second=1000)
    quiet = sim.add_channel(name="quiet", rate_limit_per_second=1000)
    busy_sessions = _customers(sim, busy.id, 40, "1555100")
    quiet_sessions = _customers(sim, quiet.id, 3, "1555200")
    for sid in busy_sessions + quiet_sessions:  # the busy channel's backlog is older
        agents.send_text(sim.runtime.ctx, sid, "hello")
    sim.runtime.sender.batch_size = 10
    sim.runtime.sender.run_pending()
    order = [m.phone_number_id for m in sim.fake.accepted()]
    assert len(order) == 43
    assert Counter(order[:10])[quiet.phone_number_id] == 3  # in the very first batch


def test_the_channel_rate_limit_is_never_exceeded(sim: Simulator) -> None:
    ch = sim.add_channel(rate_limit_per_second=10)
    for sid in _customers(sim, ch.id, 25, "1555300"):
        agents.send_text(sim.runtime.ctx, sid, "hello")
    sim.advance("10s")
    times = sorted(m.sent_at for m in sim.outbox(ch))
    assert len(times) == 25
    per_second = Counter(times)
    assert max(per_second.values()) == 10  # one process: held slots bound what reaches Meta exactly
    for t in times:  # every one-second window
        assert sum(1 for u in times if t <= u < t + timedelta(seconds=1)) <= 10


def test_one_recipient_gets_a_burst_of_five_then_one_per_six_seconds(sim: Simulator) -> None:
    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.customer_message(ch, wa_id="15550002222", name="Bruno")
    s = sim.session(ch, wa_id=ANA)
    start = sim.now
    for n in range(7):
        agents.send_text(sim.runtime.ctx, s.id, f"part {n}")
    agents.send_text(sim.runtime.ctx, sim.session(ch, wa_id="15550002222").id, "hi Bruno")
    sim.advance("1m")
    to_ana = [m.sent_at for m in sim.outbox(ch) if m.to == "+" + ANA]
    assert to_ana == [start] * 5 + [start + timedelta(seconds=30)] * 2
    assert [m.sent_at for m in sim.outbox(ch) if m.to == "+15550002222"] == [start]


# -- Graph API version ----------------------------------------------------------------------------------


def test_sends_use_graph_v25_by_default_and_the_configured_version_otherwise(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASESSION_GRAPH_VERSION", "v24.0")
    assert Settings().graph_version == "v24.0"
    monkeypatch.delenv("WASESSION_GRAPH_VERSION")
    assert Settings().graph_version == "v25.0"

    ch = sim.add_channel()
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    s = sim.session(ch, wa_id=ANA)
    assert sim.runtime.client_for(sim.channel(ch)).messages_url(ch.phone_number_id) == (
        f"http://graph.fake/v25.0/{ch.phone_number_id}/messages"
    )
    sim.fake.graph_version = "v25.0"  # the fake now refuses any other version
    agents.send_text(sim.runtime.ctx, s.id, "one")
    sim.run_due()
    assert len(sim.outbox(ch)) == 1

    sim.runtime.settings.graph_version = "v24.0"
    sim.fake.graph_version = "v24.0"
    agents.send_text(sim.runtime.ctx, s.id, "two")
    sim.advance("10s")
    assert [m.body for m in sim.outbox(ch)] == ["one", "two"]

    sim.fake.graph_version = "v25.0"  # a mismatch is visible: Meta answers 100, the message fails
    mid = agents.send_text(sim.runtime.ctx, s.id, "three")
    sim.advance("10s")
    row = sim.message(mid)
    assert row is not None and row.status == "failed" and row.error_code == 100
    assert at("2026-01-05T15:00:00Z") <= sim.now


def test_a_slot_is_held_until_one_second_after_its_answer() -> None:
    """However late a request reaches Meta after its slot was taken, every request answered in the
    second before still holds its slot, so no one-second window at Meta holds more than the limit."""
    t0 = at("2026-11-21T10:00:00Z")
    held = HeldSlots()
    assert held.take(1, 2, t0) is None
    assert held.take(1, 2, t0) is None
    assert held.take(1, 2, t0) is not None  # both in flight: try again shortly
    assert held.take(2, 2, t0) is None  # another channel has its own slots
    held.release(1, t0 + timedelta(milliseconds=300))  # answered 300 ms later
    held.release(1, None)  # never left: free at once
    assert held.take(1, 2, t0 + timedelta(milliseconds=400)) is None
    until = held.take(1, 2, t0 + timedelta(milliseconds=500))
    assert until == t0 + timedelta(milliseconds=1300)
    assert held.take(1, 2, t0 + timedelta(milliseconds=1300)) is None

"""The ack's check (`ingest/gate.py`), counted: HMACs per distinct secret, the cap on numbers a body
names, a bounded parse, every change vouched for, rotations seen at the next body."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import DATA
from wasession.ingest.credentials import addressed, has_account_level_changes
from wasession.ingest.gate import INLINE_BYTES, AckGate, Decision, Refused
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.services import channels as channel_service
from wasession.store import templates as template_store
from wasession.store import webhook_log
from wasession.testing import Simulator
from wasession.whatsapp.payload import numbers_named, parse_webhook
from wasession.whatsapp.signature import sign


def body_for(sim: Simulator, pnid: str, text: str = "hi", waba_id: str = "1000") -> bytes:
    message = text_message_body(
        phone_number_id=pnid,
        wa_id="4911",
        name="A",
        text=text,
        timestamp=sim.now,
        wamid=new_wamid("4911"),
        waba_id=waba_id,
    )
    return json.dumps(message).encode()


def named(*numbers: str, padding: int = 0) -> bytes:
    """An unsigned body naming many numbers, padded towards the size limit (the attack of finding 3)."""
    filler = "x" * padding
    changes = [{"field": "messages", "value": {"metadata": {"phone_number_id": n}, "pad": filler}} for n in numbers]
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": changes}]}).encode()


def test_one_hmac_per_distinct_secret_and_a_cap_on_numbers() -> None:
    with Simulator() as sim:
        numbers = [sim.add_channel().phone_number_id for _ in range(12)]  # twelve channels, one Meta app
        gate: AckGate = sim.runtime.ingestor.gate
        raw = named(*numbers[:10], padding=1000)
        before = gate.hmacs
        assert gate.judge(raw, sign("forger", raw)).status == 403
        assert gate.hmacs - before == 1  # ten numbers, one secret: one HMAC
        raw = named(*numbers, padding=1000)
        before = gate.hmacs
        decision = gate.judge(raw, sign("forger", raw))
        assert (decision.status, decision.code) == (422, "too_many_numbers")
        assert "WASESSION_WEBHOOK_MAX_NUMBERS" in decision.message
        assert gate.hmacs == before  # refused before any HMAC
        many = named(*(str(10**14 + n) for n in range(102)), padding=28_000)
        assert len(many) > 2_800_000
        before = gate.hmacs
        assert gate.judge(many, sign("forger", many)).status == 422
        assert gate.hmacs == before


def test_what_the_full_check_would_refuse_is_refused_before_it_is_logged() -> None:
    with Simulator() as sim:
        mine = sim.add_channel()
        gate = sim.runtime.ingestor.gate
        deep = (
            b'{"phone_number_id":"'
            + mine.phone_number_id.encode()
            + b'","object":"whatsapp_business_account","entry":'
            + b"[" * 50_000
            + b"]" * 50_000
            + b"}"
        )
        decision = gate.judge(deep, sign(sim.app_secret, deep))
        assert (decision.status, decision.code) == (400, "invalid_body")
        assert "more than 50000 objects and arrays" in decision.message  # counted before any parse
        shallow_but_deep = body_for(sim, mine.phone_number_id).replace(b'"hi"', b"[" * 40 + b"]" * 40)
        decision = gate.judge(shallow_but_deep, sign(sim.app_secret, shallow_but_deep))
        assert decision.status == 400 and "deeper than 32 levels" in decision.message
        many = body_for(sim, mine.phone_number_id).replace(b'"hi"', b"[" + b",".join([b"[]"] * 60_000) + b"]")
        assert gate.judge(many, sign(sim.app_secret, many)).status == 400
        in_text = body_for(sim, mine.phone_number_id).replace(b'"hi"', json.dumps("[[[" * 40 + '"{').encode())
        assert gate.judge(in_text, sign(sim.app_secret, in_text)).accepted  # brackets in a string are text
        fine = body_for(sim, mine.phone_number_id)
        assert gate.judge(fine, sign(sim.app_secret, fine)).accepted
        arabic = body_for(sim, "١٢٣٤٥٦")
        decision = gate.judge(arabic, sign(sim.app_secret, arabic))
        assert (decision.status, decision.code) == (422, "invalid_phone_number_id")


def test_the_signers_number_outside_any_change_vouches_for_nothing() -> None:
    with Simulator() as sim:
        victim = sim.add_channel()
        sim.meta_number("777000111222", "tok", "attacker-secret")
        channel_service.create_channel(
            sim.runtime.ctx, channel_service.NewChannel("mine", "777000111222", "tok", "attacker-secret", "vt")
        )
        body: dict[str, Any] = json.loads(body_for(sim, victim.phone_number_id))
        body["phone_number_id"] = "777000111222"  # the signer's number, in no change
        raw = json.dumps(body).encode()
        assert gate_of(sim).judge(raw, sign("attacker-secret", raw)).status == 403


def test_a_rotated_secret_stops_verifying_at_the_next_body_without_any_invalidation() -> None:
    with Simulator() as sim:
        channel = sim.add_channel()
        gate = gate_of(sim)
        raw = body_for(sim, channel.phone_number_id)
        assert gate.judge(raw, sign(sim.app_secret, raw)).accepted
        assert gate.quick(raw, sign(sim.app_secret, raw)) is not None  # current in memory: the event loop decides
        # Another process rotates it: nothing tells this one but the version row.
        channel_service.update_credentials(sim.runtime.ctx, channel.id, app_secret="rotated")
        # The event loop accepts from memory, under the old version; the writer reads the version
        # before logging, judges it again and refuses it: nothing is logged.
        stale = gate.quick(raw, sign(sim.app_secret, raw))
        assert stale is not None and stale.accepted and stale.version is not None
        assert stale.version != gate.version()
        refused = sim.runtime.ingestor.submit(raw, sign(sim.app_secret, raw), judged=stale.version).exception(10)
        assert isinstance(refused, Refused) and refused.decision.status == 403
        assert not _logged(sim, raw)
        # Judging it again read the new secrets: the new secret's body is accepted on the loop.
        assert gate.quick(raw, sign("rotated", raw)) == Decision(200, version=gate.version())
        # A refusal is never answered from stale secrets: after another rotation the newest
        # secret's body goes to a thread, which reads them again.
        channel_service.update_credentials(sim.runtime.ctx, channel.id, app_secret="rotated-again")
        assert gate.quick(raw, sign("rotated-again", raw)) is None
        assert gate.judge(raw, sign("rotated-again", raw)).accepted
        assert gate.judge(raw, sign("rotated", raw)).status == 403
        assert gate.quick(b"x" * (INLINE_BYTES + 1), "sha256=00") is None  # large bodies never on the loop


def _logged(sim: Simulator, raw: bytes) -> bool:
    with sim.runtime.ctx.db.log.read() as conn:
        return webhook_log.id_of_body(conn, raw) is not None


def test_an_unknown_number_is_found_through_the_business_account_or_the_few_secrets_held() -> None:
    with Simulator() as sim:
        channel = sim.add_channel()
        gate = gate_of(sim)
        unknown = body_for(sim, "155500000001", waba_id="9000")
        decision = gate.judge(unknown, sign(sim.app_secret, unknown))
        assert decision.accepted and decision.unrouted == ("155500000001",)
        assert decision.owners == {channel.workspace_id}
        assert gate.judge(unknown, sign("nobody-holds-this", unknown)).status == 403
        gate.unrouted_secrets = 0  # more Meta apps than the cap: only the business account id finds the secret
        assert gate.judge(unknown, sign(sim.app_secret, unknown)).status == 403
        with sim.runtime.db.write() as conn:
            template_store.set_source(conn, channel.id, "9000")
        before = gate.hmacs
        assert gate.judge(unknown, sign(sim.app_secret, unknown)).accepted
        assert gate.hmacs - before == 1
        other_account = body_for(sim, "155500000001", waba_id="9001")
        assert gate.judge(other_account, sign(sim.app_secret, other_account)).status == 403


def gate_of(sim: Simulator) -> AckGate:
    gate: AckGate = sim.runtime.ingestor.gate
    return gate


def test_the_ack_reads_the_numbers_parse_webhook_addresses() -> None:
    """`numbers_named` (the ack's light walk) and `parse_webhook` (the apply's) agree on every
    fixture body and on malformed envelopes, entries and changes."""
    bodies: list[Any] = []
    for path in sorted((DATA / "whatsapp-webhooks").glob("*.json")):
        loaded = json.loads(path.read_text())
        bodies.extend(loaded.values() if isinstance(loaded, dict) and "object" not in loaded else [loaded])
    odd_changes: list[Any] = [
        "x",
        {"field": 1, "value": {}},
        {"field": "messages", "value": []},
        {"field": "account_update", "value": {"event": "X"}},
        {"field": "messages", "value": {"metadata": {"phone_number_id": "123"}, "messages": "nope"}},
        {"field": "messages", "value": {"metadata": {}, "messages": [{"id": "w"}]}},
    ]
    for change in odd_changes:
        bodies.append({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]})
    bodies.append({"object": "whatsapp_business_account", "entry": ["x", {"changes": "y"}]})
    assert len(bodies) > 20
    for body in bodies:
        batch = parse_webhook(body)
        assert numbers_named(body) == (addressed(batch), has_account_level_changes(batch)), body

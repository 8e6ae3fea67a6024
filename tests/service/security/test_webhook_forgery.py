"""Cross-tenant webhook forgery: a workspace that signs with its own channel's app secret cannot
write into another workspace's channel, whatever that body addresses.

The attacker does what any API user can: create a channel with a secret it chose through
`POST /api/v1/channels`, sign a body with it and post it to the public webhook endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from wasession.ingest.group_commit import body_kind, log_bodies
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.services import workspaces as workspace_service
from wasession.services.errors import ConflictError
from wasession.store.channels import Channel
from wasession.store.schema import contacts, events, messages, sessions, webhook_log
from wasession.testing import Simulator
from wasession.testing.harness import served
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

VICTIM_CUSTOMER = "4915550001111"
ATTACKER_NUMBER = "4915559999999"
ATTACKER_SECRET = "attacker-chosen-secret"
ATTACKER_PNID = "777000111222"
NOW = datetime(2026, 1, 5, 15, tzinfo=UTC)  # the Simulator's clock; these tests never advance it


@dataclass
class Tenants:
    sim: Simulator
    victim: Channel
    attacker_pnid: str


@pytest.fixture
def tenants() -> Iterator[Tenants]:
    with Simulator(start=NOW) as sim:
        victim = sim.add_channel()
        sim.customer_message(victim, wa_id=VICTIM_CUSTOMER, name="Ana", text="genuine")
        other = workspace_service.create_workspace(sim.runtime.ctx, "attacker")
        key = key_service.create_key(sim.runtime.ctx, workspace_id=other.id, name="k").secret
        sim.meta_number(ATTACKER_PNID, "tok", ATTACKER_SECRET)  # the attacker's own, genuine number
        created = sim.client.post(
            "/api/v1/channels",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "name": "mine",
                "phone_number_id": ATTACKER_PNID,
                "access_token": "tok",
                "app_secret": ATTACKER_SECRET,
                "verify_token": "vt",
            },
        )
        assert created.status_code == 201, created.text
        yield Tenants(sim, victim, ATTACKER_PNID)


def message(pnid: str, text: str, wa_id: str = VICTIM_CUSTOMER) -> dict[str, Any]:
    return text_message_body(
        phone_number_id=pnid, wa_id=wa_id, name="Ana", text=text, timestamp=NOW, wamid=new_wamid(wa_id)
    )


def system_rekey(pnid: str, new_wa_id: str) -> dict[str, Any]:
    body = message(pnid, "x")
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del msg["text"]
    msg.update(type="system", system={"body": "changed number", "type": "user_changed_number", "wa_id": new_wa_id})
    return body


def merged(*bodies: dict[str, Any]) -> dict[str, Any]:
    out = bodies[0]
    for b in bodies[1:]:
        out["entry"][0]["changes"] += b["entry"][0]["changes"]
    return out


def forged(body: dict[str, Any], secret: str = ATTACKER_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)}


def snapshot(sim: Simulator) -> dict[str, Any]:
    with sim.runtime.db.read() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in (webhook_log, events)}
        return {
            **counts,
            "messages": conn.execute(select(messages.c.body).order_by(messages.c.id)).scalars().all(),
            "contacts": conn.execute(select(contacts.c.wa_id, contacts.c.workspace_id)).all(),
            "sessions": conn.execute(select(sessions.c.id, sessions.c.last_customer_at)).all(),
        }


def post(sim: Simulator, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    response: httpx.Response = sim.client.post("/webhooks/whatsapp", content=raw, headers=headers)
    return response


def test_a_message_signed_with_another_workspaces_secret_is_refused_and_changes_nothing(tenants: Tenants) -> None:
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    response = post(sim, *forged(message(victim.phone_number_id, "send your password to ...")))
    assert response.status_code == 403 and response.json()["error"]["code"] == "signature_invalid"
    assert snapshot(sim) == before
    assert [m.body for m in sim.transcript(sim.session(victim, wa_id=VICTIM_CUSTOMER).id)] == ["genuine"]


def test_a_forged_system_message_does_not_rekey_the_victims_contact(tenants: Tenants) -> None:
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    response = post(sim, *forged(system_rekey(victim.phone_number_id, ATTACKER_NUMBER)))
    assert response.status_code == 403
    assert snapshot(sim) == before
    assert sim.session(victim, wa_id=VICTIM_CUSTOMER).status == "active"
    with pytest.raises(LookupError):
        sim.session(victim, wa_id=ATTACKER_NUMBER)


def test_a_mixed_body_is_refused_whole_though_one_change_is_genuine(tenants: Tenants) -> None:
    """Every change must be vouched for by the signature (issue 25): the attacker's own change does
    not carry the victim's into the log."""
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    body = merged(
        message(tenants.attacker_pnid, "to my own number", wa_id="4917000000001"),
        message(victim.phone_number_id, "forged"),
        system_rekey(victim.phone_number_id, ATTACKER_NUMBER),
    )
    response = post(sim, *forged(body))
    assert response.status_code == 403
    assert snapshot(sim) == before  # nothing logged either


def test_a_logged_mixed_body_is_applied_only_where_its_own_channel_signs(tenants: Tenants) -> None:
    """Applying judges every change again: a mixed body already in the log (from before the ack
    refused such bodies) applies only the signer's own change."""
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    raw, headers = forged(
        merged(
            message(tenants.attacker_pnid, "to my own number", wa_id="4917000000001"),
            message(victim.phone_number_id, "forged"),
        )
    )
    ingestor = sim.runtime.ingestor
    with sim.runtime.db.log.write() as conn:
        log_id = log_bodies(conn, [(raw, headers[SIGNATURE_HEADER], body_kind(raw))], NOW)[0].log_id
    ingestor.drain()
    after = snapshot(sim)
    assert after["messages"] == [*before["messages"], "to my own number"]
    with sim.runtime.db.log.read() as conn:
        outcome = conn.execute(select(webhook_log.c.outcome).where(webhook_log.c.id == log_id)).scalar()
    assert outcome["refused"] == [victim.phone_number_id] and outcome["messages"] == 1


def test_a_body_addressing_only_unclaimed_numbers_beside_the_victim_is_refused(tenants: Tenants) -> None:
    """The attacker's secret signs, but for no channel the body addresses: nothing verifies."""
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    body = merged(message("123123123", "stray"), message(victim.phone_number_id, "forged"))
    assert post(sim, *forged(body)).status_code == 403
    assert snapshot(sim) == before


def test_the_victims_own_secret_still_works_after_the_attempts(tenants: Tenants) -> None:
    sim, victim = tenants.sim, tenants.victim
    post(sim, *forged(message(victim.phone_number_id, "forged")))
    raw, headers = forged(message(victim.phone_number_id, "second genuine"), sim.app_secret)
    assert post(sim, raw, headers).status_code == 200
    transcript = sim.transcript(sim.session(victim, wa_id=VICTIM_CUSTOMER).id)
    assert [m.body for m in transcript] == ["genuine", "second genuine"]


def test_the_attack_over_a_real_port_is_refused(tenants: Tenants) -> None:
    sim, victim = tenants.sim, tenants.victim
    before = snapshot(sim)
    with served(sim) as base, httpx.Client(base_url=base, timeout=10) as client:
        for body in (message(victim.phone_number_id, "forged"), system_rekey(victim.phone_number_id, ATTACKER_NUMBER)):
            raw, headers = forged(body)
            response = client.post("/webhooks/whatsapp", content=raw, headers=headers)
            assert response.status_code == 403, response.text
    assert snapshot(sim) == before


def test_a_phone_number_id_claimed_by_one_workspace_is_refused_to_another(tenants: Tenants) -> None:
    sim, victim = tenants.sim, tenants.victim
    other = workspace_service.workspace_named(sim.runtime.ctx, "attacker")
    key = key_service.create_key(sim.runtime.ctx, workspace_id=other.id, name="k2").secret
    response = sim.client.post(
        "/api/v1/channels",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "name": "squat",
            "phone_number_id": victim.phone_number_id,
            "access_token": "tok",
            "app_secret": ATTACKER_SECRET,
            "verify_token": "vt2",
        },
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("conflict", "phone_number_id")
    assert "another workspace" in error["message"]
    assert sim.channel(victim).workspace_id == victim.workspace_id


def test_the_channel_quota_per_workspace_names_its_setting(tenants: Tenants) -> None:
    sim = tenants.sim
    sim.runtime.settings.max_channels_per_workspace = 1  # the attacker's workspace holds one already
    other = workspace_service.workspace_named(sim.runtime.ctx, "attacker")
    key = key_service.create_key(sim.runtime.ctx, workspace_id=other.id, name="k3").secret
    response = sim.client.post(
        "/api/v1/channels",
        headers={"Authorization": f"Bearer {key}"},
        json={"name": "more", "phone_number_id": "888000", "access_token": "t", "app_secret": "s", "verify_token": "v"},
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded" and "WASESSION_MAX_CHANNELS_PER_WORKSPACE" in error["message"]
    with pytest.raises(ConflictError, match="WASESSION_MAX_CHANNELS_PER_WORKSPACE"):
        channel_service.create_channel(
            sim.runtime.ctx,
            channel_service.NewChannel("x", "888001", "t", "s", "v"),
            workspace_id=other.id,
            max_channels=1,
        )

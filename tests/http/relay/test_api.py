"""The forwards API: validation names the field and changes nothing, secrets are write-only, another
workspace's channel is invisible, and /metrics shows the relay's counters and lag."""

from __future__ import annotations

from tests.support.relay import api_of, one_target
from wasession.services import apikeys as key_service
from wasession.services.workspaces import create_workspace
from wasession.testing import Simulator

OWN_SECRET = "a-crm-secret-of-its-own"


def test_bad_input_names_the_field_and_changes_nothing(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    path = f"/channels/{ch.id}/forwards"
    for body, field in (
        ({"url": "http://10.0.0.8/hook"}, "url"),
        ({"url": "ftp://crm.example.com/hook"}, "url"),
        ({"url": "https://crm.example.com/hook", "secret": "short"}, "secret"),
        ({"url": "https://crm.example.com/hook", "fields": ["emails"]}, "fields"),
        ({"url": "https://crm.example.com/hook", "fields": []}, "fields"),
    ):
        answer = api.call("POST", path, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text
    assert api.call("GET", path).json() == []
    assert api.call("POST", path, json={"url": "https://x.example.com", "colour": "red"}).status_code == 422


def test_patch_changes_fields_and_removes_the_own_secret(relay_sim: Simulator) -> None:
    with one_target(relay_sim, secret=OWN_SECRET) as t:
        changed = t.api.call("PATCH", t.path, json={"fields": ["calls", "messages"], "description": "bot"})
        assert changed.json()["fields"] == ["messages", "calls"] and changed.json()["secret"] == "********"
        cleared = t.api.call("PATCH", t.path, json={"secret": ""})
        assert cleared.json()["secret"] is None
        sent, _ = t.post("hi")
        relay_sim.run_due()
        assert t.crm.taken == [(sent.raw, sent.signature)]  # Meta's signature again
        assert t.api.call("DELETE", t.path).status_code == 204
        assert t.api.call("GET", t.path).status_code == 404


def test_another_workspaces_channel_and_targets_are_not_found(relay_sim: Simulator) -> None:
    sim = relay_sim
    with one_target(sim) as t:
        other_ws = create_workspace(sim.runtime.ctx, "other")
        outsider = type(t.api)(sim, key_service.create_key(sim.runtime.ctx, workspace_id=other_ws.id, name="o").secret)
        for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/pause"), ("GET", "/deliveries")):
            kwargs = {"json": {"paused": True}} if method == "PATCH" else {}
            assert outsider.call(method, t.path + suffix, **kwargs).status_code == 404, (method, suffix)
        assert outsider.call("GET", f"/channels/{t.channel.id}/forwards").status_code == 404
        assert t.api.call("GET", t.path).json()["paused"] is False


def test_metrics_show_attempts_and_lag(relay_sim: Simulator) -> None:
    with one_target(relay_sim, [500]) as t:
        t.post("hi")
        relay_sim.run_due()
        page = relay_sim.client.get("/metrics").text
    assert 'wasession_relay_attempts_total{outcome="failed"}' in page
    fid = t.created.json()["id"]
    assert f'wasession_relay_lag{{target="{fid}"}} 1.0' in page


def test_a_channel_has_at_most_twenty_targets(relay_sim: Simulator) -> None:
    sim = relay_sim
    ch = sim.add_channel()
    api = api_of(sim)
    path = f"/channels/{ch.id}/forwards"
    for n in range(20):
        assert api.call("POST", path, json={"url": f"https://crm{n}.example.com/hook"}).status_code == 201
    refused = api.call("POST", path, json={"url": "https://one-more.example.com/hook"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "quota_exceeded"
    assert len(api.call("GET", path).json()) == 20

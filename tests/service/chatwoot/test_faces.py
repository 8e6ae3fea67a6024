"""Another workspace's Chatwoot connection is invisible (404) through the API on a real port and the
dashboard; the dashboard connects, shows calls and errors, pauses and removes through the same service."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from tests.support.chatwoot import World, connect_body
from tests.support.web import PASSWORD, Browser
from wasession.outbound.addresses import AddressPolicy
from wasession.services import chatwoot
from wasession.services.workspaces import create_workspace
from wasession.store.schema import channels
from wasession.testing.harness import add_admin


def _other_workspace_connection(w: World) -> int:
    other = w.sim.add_channel()
    ws = create_workspace(w.sim.runtime.ctx, "other").id
    with w.sim.runtime.db.write() as conn:
        conn.execute(update(channels).where(channels.c.id == other.id).values(workspace_id=ws))
    body = connect_body(other, w.cw)
    body.pop("channel_id")
    done = chatwoot.connect(
        w.sim.runtime.ctx, other.id, workspace_id=ws, policy=AddressPolicy.parse("127.0.0.1"), **body
    )
    return done.connection.id


def test_another_workspaces_connection_is_404_through_the_api_and_the_dashboard(world_factory: Any) -> None:
    w: World = world_factory()
    theirs = _other_workspace_connection(w)
    mine = w.connection["id"]
    assert [c["id"] for c in w.api.get("/api/v1/chatwoot").json()] == [mine]
    for method, path in (
        ("GET", f"/api/v1/chatwoot/{theirs}"),
        ("POST", f"/api/v1/chatwoot/{theirs}/pause"),
        ("POST", f"/api/v1/chatwoot/{theirs}/resume"),
        ("DELETE", f"/api/v1/chatwoot/{theirs}"),
    ):
        answer = w.api.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    shown = w.api.get(f"/api/v1/chatwoot/{mine}").json()
    assert shown["signed"] is True and "api_token" not in shown and "webhook_secret" not in shown

    add_admin(w.sim, "admin", PASSWORD)
    browser = Browser(w.sim)
    browser.login()
    assert browser.get(f"/dashboard/chatwoot/{theirs}").status_code == 404
    assert browser.post(f"/dashboard/chatwoot/{theirs}/pause", {}).status_code == 404
    assert browser.post(f"/dashboard/chatwoot/{theirs}/remove", {}).status_code == 404
    page = browser.get("/dashboard/chatwoot")
    assert f'id="chatwoot-{mine}"' in page.text and f'id="chatwoot-{theirs}"' not in page.text
    assert chatwoot.get_connection(w.sim.runtime.ctx, theirs, workspace_id=None).paused is False


def test_the_dashboard_connects_names_a_bad_token_and_pauses(world_factory: Any) -> None:
    w: World = world_factory()
    add_admin(w.sim, "admin", PASSWORD)
    browser = Browser(w.sim)
    browser.login()
    fresh = w.sim.add_channel(name="Second")
    form = {k: str(v) for k, v in connect_body(fresh, w.cw).items()}
    refused = browser.post("/dashboard/chatwoot", {**form, "api_token": "wrong"})
    assert refused.status_code == 422 and "refused the API token" in refused.text
    assert len(chatwoot.list_connections(w.sim.runtime.ctx, workspace_id=fresh.workspace_id)) == 1
    assert browser.post("/dashboard/chatwoot", form).status_code == 303
    made = chatwoot.list_connections(w.sim.runtime.ctx, workspace_id=fresh.workspace_id)[-1]
    assert made.channel_id == fresh.id
    assert browser.post(f"/dashboard/chatwoot/{made.id}/pause", {}).status_code == 303
    assert chatwoot.get_connection(w.sim.runtime.ctx, made.id, workspace_id=None).paused


def test_the_dashboard_shows_a_chatwoot_outage(world_factory: Any) -> None:
    w: World = world_factory(reminder_enabled=True, reminder_steps=[{"after": "30m"}], session_timeout="1h")
    w.customer("hello")
    w.fake.fail_with = 503
    w.sim.advance("1h")
    w.settle()
    add_admin(w.sim, "admin", PASSWORD)
    browser = Browser(w.sim)
    browser.login()
    page = browser.get("/dashboard/chatwoot").text
    assert f'id="chatwoot-{w.connection["id"]}-error"' in page and "Chatwoot answered 503" in page
    assert "pending" in page
    metrics = httpx.get(w.base + "/metrics").text
    assert 'wasession_chatwoot_calls_total{kind="attributes",outcome="retry"}' in metrics


def test_resuming_retries_a_resolve_that_failed(world_factory: Any) -> None:
    w: World = world_factory(session_timeout="1h")
    conv = w.customer("hello")
    w.fake.fail_with = 404  # e.g. a token that lost access to the inbox: a refusal, final
    w.sim.advance("1h")
    w.settle()
    counts = w.api.get(f"/api/v1/chatwoot/{w.connection['id']}").json()["calls"]
    assert counts.get("failed", 0) >= 1 and w.fake.conversations[conv.id].status == "open"
    w.fake.fail_with = None
    w.api.post(f"/api/v1/chatwoot/{w.connection['id']}/pause").raise_for_status()
    w.api.post(f"/api/v1/chatwoot/{w.connection['id']}/resume").raise_for_status()
    w.settle()
    assert w.fake.conversations[conv.id].status == "resolved"


def test_two_processes_following_one_connection_add_its_calls_once(world_factory: Any) -> None:
    from wasession.engine.chatwoot_sync import ChatwootSync
    from wasession.store import chatwoot as store

    w: World = world_factory(session_timeout="1h")
    w.customer("hello")
    ctx = w.sim.runtime.ctx
    other = ChatwootSync(ctx, policy=AddressPolicy.parse("127.0.0.1"))
    with ctx.db.read() as conn:
        stale = store.get_connection(conn, w.connection["id"])
    assert stale is not None
    w.sim.advance("1h")  # closes the session: events after the stale cursor
    with ctx.db.write() as conn:
        assert not store.move_cursor(conn, stale.id, stale.event_cursor - 1, stale.event_cursor)
    w.settle()  # this process follows and resolves
    with ctx.db.read() as conn:
        counts = store.call_counts(conn, stale.id)
    assert other.follow(stale) == 0  # the events were taken already: nothing added twice
    with ctx.db.read() as conn:
        assert store.call_counts(conn, stale.id) == counts
    other.close()

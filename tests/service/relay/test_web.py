"""The Forwarding panel's forms: CSRF checked, scoped to the user's workspace, nothing changed on refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from tests.support.web import PASSWORD, Browser
from wasession.services import forwards as forward_service
from wasession.services.workspaces import create_workspace
from wasession.store.schema import channels
from wasession.testing import Simulator
from wasession.testing.harness import add_admin, add_sandbox_channel


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


def test_forms_need_the_csrf_token_and_stay_in_the_workspace(sim: Simulator) -> None:
    ch = add_sandbox_channel(sim)
    add_admin(sim, "admin", PASSWORD)
    browser = Browser(sim)
    browser.login()
    path = f"/dashboard/channels/{ch.id}/forwards"
    assert browser.post(path, {"url": "https://crm.example.com/hook"}, csrf="").status_code == 403
    other = sim.add_channel()
    ws = create_workspace(sim.runtime.ctx, "other").id
    with sim.runtime.db.write() as conn:  # move it to a workspace of its own
        conn.execute(update(channels).where(channels.c.id == other.id).values(workspace_id=ws))
    assert (
        browser.post(f"/dashboard/channels/{other.id}/forwards", {"url": "https://a.example.com/h"}).status_code == 404
    )
    assert browser.post(path, {"url": "https://crm.example.com/hook", "field_statuses": "on"}).status_code == 303
    targets = forward_service.list_forwards(sim.runtime.ctx, ch.id, workspace_id=ch.workspace_id)
    assert [(t.url, t.fields) for t in targets] == [("https://crm.example.com/hook", ("statuses",))]
    assert browser.post(f"{path}/{targets[0].id}/explode", {}).status_code == 404
    assert "crm.example.com" in browser.get(f"/dashboard/channels/{ch.id}/settings").text

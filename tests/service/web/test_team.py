"""A team's inbox on the dashboard (issue 23): assign or take a chat, the Mine and Unassigned views,
private notes on the timeline, canned replies kept by admins and filled for the chat; another
workspace's session or canned reply answers 404, an agent may not change the canned replies."""

from __future__ import annotations

from tests.support.web import PASSWORD, Browser, customer_writes
from wasession.services import canned_replies as canned_service
from wasession.services import users as user_service
from wasession.services import workspaces as workspace_service
from wasession.store.channels import Channel
from wasession.testing import Simulator


def _session_id(sim: Simulator, channel: Channel) -> int:
    return sim.session(channel, wa_id="15550001111").id


def _agent(sim: Simulator, name: str = "maria", workspace: str = "default") -> Browser:
    user_service.create_user(sim.runtime.ctx, name, PASSWORD, workspace=workspace, role="agent")
    agent = Browser(sim)
    assert agent.login(name).status_code == 303
    return agent


def test_assign_take_and_the_mine_and_unassigned_views(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    maria = _agent(sim)
    page = browser.get(f"/dashboard/sessions/{sid}")
    assert 'id="assignee">Nobody' in page.text and '<option value="maria">maria</option>' in page.text
    assert "Ana Silva" in browser.get("/dashboard/chats", assigned="none").text
    assert "Ana Silva" not in browser.get("/dashboard/chats", assigned="mine").text

    done = browser.post(f"/dashboard/sessions/{sid}/assignee", {"user": "maria"})
    assert done.status_code == 303 and done.headers["location"].endswith("notice=assigned")
    page = browser.get(f"/dashboard/sessions/{sid}")
    assert 'id="assignee">maria' in page.text and "Assigned to maria by admin" in page.text
    assert "Ana Silva" in maria.get("/dashboard/chats", assigned="mine").text
    assert "Ana Silva" not in browser.get("/dashboard/chats", assigned="mine").text
    assert "Ana Silva" not in browser.get("/dashboard/chats", assigned="none").text
    assert "Assigned to maria" in browser.get("/dashboard/chats").text

    taken = browser.post(f"/dashboard/sessions/{sid}/assignee", {"take": "yes"})
    assert taken.headers["location"].endswith("notice=taken")
    assert "Ana Silva" in browser.get("/dashboard/chats", assigned="mine").text
    assert "Assigned to admin by admin" in browser.get(f"/dashboard/sessions/{sid}").text

    refused = browser.post(f"/dashboard/sessions/{sid}/assignee", {"user": "nobody-here"})
    assert refused.headers["location"].endswith("notice=assign_unknown")
    page = browser.get(refused.headers["location"])
    assert "Assign to must be a user of this workspace" in page.text and 'id="assignee">admin' in page.text

    browser.post(f"/dashboard/sessions/{sid}/assignee", {"user": ""})
    assert "Unassigned by admin" in browser.get(f"/dashboard/sessions/{sid}").text


def test_private_notes_show_on_the_timeline_and_are_never_sent(
    sim: Simulator, sandbox: Channel, browser: Browser
) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    sim.run_due()
    accepted, messages = len(sim.fake.accepted()), sim.message_count()
    added = browser.post(f"/dashboard/sessions/{sid}/notes", {"text": "Wants a refund, check order 42"})
    assert added.status_code == 303 and "notice=noted" in added.headers["location"]
    page = browser.get(f"/dashboard/sessions/{sid}")
    assert "Private note · admin" in page.text and "Wants a refund, check order 42" in page.text
    assert 'class="note"' in page.text
    empty = browser.post(f"/dashboard/sessions/{sid}/notes", {"text": "  "})
    assert "Private note may not be empty" in browser.get(empty.headers["location"].split("#")[0]).text
    sim.advance("1m")
    sim.run_due()
    assert (len(sim.fake.accepted()), sim.message_count()) == (accepted, messages)


def test_canned_replies_admins_keep_them_agents_use_them(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    added = browser.post(
        "/dashboard/canned-replies", {"name": "/thanks", "text": "Thanks {{contact_name}}, {{agent_name}}"}
    )
    assert added.status_code == 303
    bad = browser.post("/dashboard/canned-replies", {"name": "/oops", "text": "Hi {{name}}"})
    assert bad.status_code == 422 and "Text: " in bad.text and "{{name}}" in bad.text
    assert 'value="/oops"' in bad.text  # what was typed stays in the form
    twice = browser.post("/dashboard/canned-replies", {"name": "/thanks", "text": "again"})
    assert twice.status_code == 409 and "Name: " in twice.text
    (reply,) = canned_service.list_replies(sim.runtime.ctx, workspace_id=sandbox.workspace_id)

    maria = _agent(sim)
    page = maria.get(f"/dashboard/sessions/{sid}")
    assert 'data-text="Thanks Ana Silva, maria"' in page.text and 'data-name="/thanks"' in page.text
    listing = maria.get("/dashboard/canned-replies")
    assert listing.status_code == 200 and "/thanks" in listing.text and 'id="canned-new"' not in listing.text
    assert maria.post("/dashboard/canned-replies", {"name": "/x", "text": "y"}).status_code == 403
    assert maria.post(f"/dashboard/canned-replies/{reply.id}/delete", {}).status_code == 403
    assert len(canned_service.list_replies(sim.runtime.ctx, workspace_id=sandbox.workspace_id)) == 1

    edited = browser.post(
        f"/dashboard/canned-replies/{reply.id}", {"name": "/thanks", "text": "Cheers {{contact_name}}"}
    )
    assert edited.status_code == 303
    assert 'data-text="Cheers Ana Silva"' in maria.get(f"/dashboard/sessions/{sid}").text
    assert browser.post(f"/dashboard/canned-replies/{reply.id}/delete", {}).status_code == 303
    assert canned_service.list_replies(sim.runtime.ctx, workspace_id=sandbox.workspace_id) == []


def test_another_workspace_gets_404(sim: Simulator, sandbox: Channel, browser: Browser) -> None:
    customer_writes(browser, sandbox)
    sid = _session_id(sim, sandbox)
    browser.post("/dashboard/canned-replies", {"name": "/thanks", "text": "Thanks"})
    (reply,) = canned_service.list_replies(sim.runtime.ctx, workspace_id=sandbox.workspace_id)
    workspace_service.create_workspace(sim.runtime.ctx, "other")
    user_service.create_user(sim.runtime.ctx, "boss", PASSWORD, workspace="other", role="admin")
    outsider = Browser(sim)
    assert outsider.login("boss").status_code == 303
    assert outsider.post(f"/dashboard/sessions/{sid}/assignee", {"take": "yes"}).status_code == 404
    assert outsider.post(f"/dashboard/sessions/{sid}/notes", {"text": "hi"}).status_code == 404
    assert outsider.post(f"/dashboard/canned-replies/{reply.id}", {"name": "/x", "text": "y"}).status_code == 404
    assert outsider.post(f"/dashboard/canned-replies/{reply.id}/delete", {}).status_code == 404
    others = outsider.get("/dashboard/canned-replies").text
    assert f'id="canned-{reply.id}"' not in others and "No canned replies yet" in others
    # The admin of the first workspace cannot be assigned a chat by name from the other either.
    assert (
        browser.post(f"/dashboard/sessions/{sid}/assignee", {"user": "boss"})
        .headers["location"]
        .endswith("notice=assign_unknown")
    )
    assert (
        "Private note"
        not in browser.get(f"/dashboard/sessions/{sid}").text.split('<ol class="timeline">')[1].split("</ol>")[0]
    )

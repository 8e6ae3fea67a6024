"""A team's inbox in chromium (issue 23): assign a chat or take it and find it under Mine and
Unassigned; add a private note (on the timeline, never sent); keep a canned reply on its page and use
it from the reply box, where the text the customer gets has its merge fields filled in. At 1280 and at
390 px, each page measured for side-scroll."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PASSWORD, WIDTHS, Dashboard
from wasession.services import users as user_service

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.browser
ANA = "15550001111"


def _fits(page: object, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # type: ignore[attr-defined]


def _chat(dash: Dashboard, width: int) -> int:
    sim = dash.sim
    sim.update_policy(dash.sandbox, session_timeout="3d", reminder_enabled=False)
    sim.customer_message(dash.sandbox, wa_id=ANA, name="Ana Silva", text="Where is my order?")
    user_service.create_user(sim.runtime.ctx, "maria", PASSWORD, role="agent")
    dash.page.set_viewport_size({"width": width, "height": 900})
    dash.login()
    return sim.session(dash.sandbox, wa_id=ANA).id


def _names(dash: Dashboard, query: str) -> list[str]:
    page = dash.open("/dashboard/chats?" + query)
    return [t.strip() for t in page.locator("#chat-list td.contact a").all_inner_texts()]


@pytest.mark.parametrize("width", WIDTHS)
def test_assign_take_and_the_mine_and_unassigned_views(dash: Dashboard, width: int) -> None:
    sid = _chat(dash, width)
    assert _names(dash, "assigned=none") == ["Ana Silva"]
    page = dash.open(f"/dashboard/sessions/{sid}")
    if width < 700:  # on a phone the assignment folds behind its summary, so the transcript stays in view
        expect(page.get_by_label("Assign to")).to_be_hidden()
        page.locator("details.assign-other > summary").click()
    page.get_by_label("Assign to").select_option("maria")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#team-notice")).to_have_text("Assigned.")
    expect(page.locator("#assignee")).to_have_text("maria")
    expect(page.locator("ol.timeline")).to_contain_text("Assigned to maria by admin")
    _fits(page, width)
    assert _names(dash, "assigned=mine") == [] and _names(dash, "assigned=none") == []
    expect(dash.open("/dashboard/chats").locator("#chat-list .assignee")).to_contain_text("maria")

    page = dash.open(f"/dashboard/sessions/{sid}")
    if width < 700:
        page.locator("details.assign-other > summary").click()
    page.get_by_role("button", name="Take it").click()
    expect(page.locator("#team-notice")).to_have_text("The chat is yours.")
    expect(page.locator("#assignee")).to_have_text("admin")
    expect(page.get_by_role("button", name="Take it")).to_have_count(0)
    assert _names(dash, "assigned=mine") == ["Ana Silva"]
    _fits(dash.page, width)
    if width == 1280:  # the filter as a person chooses it (on a phone it folds behind "Filters")
        page = dash.open("/dashboard/chats")
        page.get_by_label("Assigned").select_option("none")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r".*[?&]assigned=none(&|$)"))
        expect(page.locator("#chat-list")).to_contain_text("No active chats match these filters")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_private_note_is_on_the_timeline_and_never_sent(dash: Dashboard, width: int) -> None:
    sid = _chat(dash, width)
    dash.sim.run_due()
    sent_before = len(dash.sim.fake.accepted())
    page = dash.open(f"/dashboard/sessions/{sid}")
    page.get_by_role("button", name="Add note").click()  # empty: refused, naming the field
    expect(page.locator("#team-notice")).to_have_text("Note not added: Private note may not be empty.")
    page.get_by_label("Private note").fill("Asked twice already: call her before noon")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#team-notice")).to_contain_text("Private note added")
    note = page.locator("ol.timeline li.note")
    expect(note).to_contain_text("Private note · admin")
    expect(note).to_contain_text("Asked twice already: call her before noon")
    expect(page.locator("#transcript")).not_to_contain_text("call her before noon")
    expect(page.get_by_label("Private note")).to_have_value("")  # the sent draft is forgotten
    _fits(page, width)
    dash.sim.advance("10s")
    assert len(dash.sim.fake.accepted()) == sent_before


@pytest.mark.parametrize("width", WIDTHS)
def test_a_canned_reply_is_kept_then_used_with_its_merge_fields_filled(dash: Dashboard, width: int) -> None:
    sid = _chat(dash, width)
    page = dash.open("/dashboard/chats")
    page.get_by_role("link", name="Canned replies").click()
    expect(page.get_by_role("heading", name="Canned replies")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("/thanks")
    page.get_by_label("Text", exact=True).fill("Hi {{contact_nam}}")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#canned-error")).to_contain_text("Text: text names an unknown merge field {{contact_nam}}")
    expect(page.locator("#canned-new").get_by_label("Name")).to_have_value("/thanks")  # nothing lost
    page.locator("#canned-new").get_by_label("Text").fill("Thanks {{contact_name}} ({{wa_id}}), {{agent_name}} here.")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#saved")).to_have_text("Added.")
    expect(page.locator("#canned-list input[name=name]")).to_have_value("/thanks")
    _fits(page, width)

    page = dash.open(f"/dashboard/sessions/{sid}")
    page.get_by_label("Canned reply").select_option(label="/thanks")
    expected = f"Thanks Ana Silva ({ANA}), admin here."
    expect(page.locator("#reply-body")).to_have_value(expected)
    _fits(page, width)
    page.locator("#reply-body").fill("")
    page.locator("#reply-body").type("/thanks")
    page.locator("#reply-body").press("Tab")
    expect(page.locator("#reply-body")).to_have_value(expected)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("status").first).to_have_text("Reply queued.")
    dash.sim.advance("5s")
    assert [m.body for m in dash.sim.fake.accepted() if m.type == "text"] == [expected]

"""Issue 26 on the dashboard, over a real port: a webhook for a number no channel has, signed by this
workspace's app secret, is named on the channel settings page so the admin adds the channel."""

from __future__ import annotations

import json

import httpx

from tests.service.web.test_roles import HttpBrowser
from tests.support.web import PASSWORD, Browser
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import add_admin, served
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

UNKNOWN = "155512340000"


def test_the_settings_page_names_a_number_meta_sends_webhooks_for_that_no_channel_has(
    sim: Simulator, sandbox: Channel
) -> None:
    add_admin(sim, "admin", PASSWORD)
    raw = json.dumps(
        text_message_body(
            phone_number_id=UNKNOWN, wa_id="4911", name="A", text="hi", timestamp=sim.now, wamid=new_wamid("4911")
        )
    ).encode()
    with served(sim) as base:
        browser: Browser = HttpBrowser(base)
        assert browser.login().status_code == 303
        page = browser.get(f"/dashboard/channels/{sandbox.id}/settings")
        assert page.status_code == 200 and 'id="unrouted"' not in page.text
        answer = httpx.post(
            base + "/webhooks/whatsapp", content=raw, headers={SIGNATURE_HEADER: sign(sim.app_secret, raw)}
        )
        assert answer.status_code == 200, answer.text
        page = browser.get(f"/dashboard/channels/{sandbox.id}/settings")
        assert f"Meta is sending webhooks for {UNKNOWN}, which no channel has: add it as a channel" in page.text

"""The Chatwoot connection end to end on the real clock: a real `serve` on a real port, the fake Chatwoot
on another, Meta's webhooks relayed to Chatwoot's inbox route and Chatwoot's signed webhooks back.
Chatwoot goes down before the reminder is due and `serve` is SIGKILLed during the outage: the reminder
and the closing message still appear in the conversation exactly once, and the timeout resolves the
conversation within a second of being due."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.processes import HTTP, local_serve_env, server_log, set_up_with_cli, start_serve, stop
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.sandbox.fake_chatwoot import FakeConversation, ServedFakeChatwoot
from wasession.whatsapp.signature import sign

pytestmark = pytest.mark.slow

APP_SECRET = "chatwoot-e2e-app-secret"
PHONE = "106540352242977"
WA_ID = "4915100000077"
SECRET = "chatwoot-e2e-webhook-secret"
# The shortest ladder the policy allows (a reminder at 1 minute, the lowest step), closed 20 s later:
# every phase below still has its own stretch of the real clock, at two thirds of the first version's time.
POLICY = {
    "session_timeout": "80s",
    "reminder_enabled": True,
    "reminder_steps": [{"after": "1m"}],
    "reminder_template": "Still there?",
    "closing_message": "Closing, bye",
}
# The customer's message says it was written this long ago. T is WhatsApp's timestamp, and one in the past
# is kept as it is (R3 replaces only one more than 5 minutes ahead), so the reminder and the closure fall
# due this much sooner on the real clock. Until the outage at T + 45 s the test only waits for the relay,
# which takes well under a second; from the outage on, every phase keeps the stretch it had.
WRITTEN_AGO = timedelta(seconds=40)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield from local_serve_env(request.param, tmp_path, APP_SECRET)


def customer_writes(url: str, at: datetime) -> None:
    body = text_message_body(
        phone_number_id=PHONE, wa_id=WA_ID, name="Zoë", text="hello", wamid=new_wamid(), timestamp=at
    )
    raw = json.dumps(body, separators=(",", ":")).encode()
    answer = HTTP.post(
        url + "/webhooks/whatsapp",
        content=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, raw)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def wait_until(what: str, check: object, until: float, folder: Path) -> None:
    while not check():  # type: ignore[operator]
        if time.time() > until:
            raise AssertionError(f"timed out waiting for {what}:\n{server_log(folder)}")
        time.sleep(0.05)  # a real server on the real clock


def outgoing(conv: FakeConversation) -> list[str]:
    return [m.content for m in conv.messages if m.message_type == "outgoing" and not m.private]


def test_reminder_and_closing_once_across_an_outage_and_a_sigkill_and_resolve_on_time(
    tmp_path: Path, env: dict[str, str]
) -> None:
    set_up_with_cli("migrate", env=env)
    set_up_with_cli("channels", "add", "--skip-token-check", "--name", "Shop", "--phone-number-id", PHONE, env=env)
    key = set_up_with_cli("apikeys", "create", "--name", "cw", env=env).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    with ServedFakeChatwoot() as cw:
        fake = cw.fake
        fake.app_secret = APP_SECRET
        proc, url = start_serve(tmp_path, "--no-sandbox", env=env)
        try:
            api = httpx.Client(base_url=url + "/api/v1", headers=auth, timeout=30)
            api.put("/channels/1/policy", json=POLICY).raise_for_status()
            made = api.post(
                "/chatwoot",
                json={
                    "channel_id": 1,
                    "url": cw.url,
                    "account_id": 1,
                    "inbox_id": 1,
                    "api_token": fake.token,
                    "webhook_secret": SECRET,
                },
            )
            assert made.status_code == 201, made.text
            connection = made.json()
            api.post("/channels/1/forwards", json={"url": connection["relay_target"]}).raise_for_status()

            def hook_to(base: str) -> None:
                fake.webhooks.clear()
                fake.add_webhook(f"{base}{connection['webhook_path']}", SECRET)

            hook_to(url)
            t = datetime.now(UTC).replace(microsecond=0) - WRITTEN_AGO
            customer_writes(url, t)
            start = t.timestamp()
            # The relay must be done before Chatwoot goes down, with 10 s left for the kill and the restart.
            wait_until("the relay to reach Chatwoot", lambda: fake.conversation_of(WA_ID), start + 50, tmp_path)
            conv = fake.conversation_of(WA_ID)
            assert conv is not None

            # Chatwoot goes down 15 s before the reminder is due (later only if the relay was slow, and still
            # before it is due); serve is killed during the outage.
            wait_until("T + 45 s", lambda: time.time() >= start + 45, start + 55, tmp_path)
            fake.fail_with = 503
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc, url = start_serve(tmp_path, "--no-sandbox", env=env)
            hook_to(url)
            wait_until("T + 64 s", lambda: time.time() >= start + 64, start + 75, tmp_path)
            assert outgoing(conv) == []  # the reminder fell due during the outage
            fake.fail_with = None
            closes_at = (t + timedelta(seconds=80)).timestamp()
            wait_until("the reminder", lambda: outgoing(conv), closes_at, tmp_path)

            wait_until("the resolve", lambda: conv.status == "resolved", closes_at + 20, tmp_path)
        finally:
            stop(proc)
        fake.flush()
    assert outgoing(conv) == ["Still there?", "Closing, bye"]
    [resolve_at] = [
        at for (m, p, _), at in zip(fake.calls, fake.call_times, strict=True) if p.endswith("toggle_status")
    ]
    assert 0 <= resolve_at - closes_at < 1.0, f"resolved {resolve_at - closes_at:.3f} s after it was due"
    closing = next(m for m in conv.messages if m.content == "Closing, bye")
    assert closing.created_at <= resolve_at  # the closing message first, then the resolve

"""Issue 23: each refused webhook is a log line of `serve` saying which check failed, never the secret."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import HTTP
from tests.support.served import VERIFY_TOKEN, serve_with_channel, text_message
from wasession.ingest.gate import SIGNATURE_INVALID
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

PHONE_NUMBER_ID = "106540352242933"
APP_SECRET = "refusal-log-app-secret"
WRONG_SECRET = "a-wrong-secret-of-the-caller"
WRONG_TOKEN = "a-wrong-verify-token"


def test_refused_webhooks_say_which_check_failed_in_the_log(tmp_path: Path) -> None:
    with serve_with_channel(tmp_path, PHONE_NUMBER_ID, APP_SECRET, {}) as s:
        hook = s.url + "/webhooks/whatsapp"
        body = text_message("hi", PHONE_NUMBER_ID)
        assert HTTP.post(hook, content=body, timeout=10).status_code == 401
        assert HTTP.post(hook, content=body, headers={SIGNATURE_HEADER: sign(WRONG_SECRET, body)}).status_code == 403
        params = {"hub.mode": "subscribe", "hub.verify_token": WRONG_TOKEN, "hub.challenge": "42"}
        assert HTTP.get(hook, params=params, timeout=10).status_code == 403
        assert HTTP.get(hook, params={**params, "hub.verify_token": VERIFY_TOKEN}).text == "42"
    log = s.log_file.read_text()
    assert f"webhook refused (401): no {SIGNATURE_HEADER} header" in log, log
    assert f"webhook refused (403): {SIGNATURE_INVALID}" in log, log
    assert "webhook verification refused (403): hub.verify_token matches no channel's verify token" in log, log
    for secret in (APP_SECRET, WRONG_SECRET, WRONG_TOKEN, VERIFY_TOKEN):
        assert secret not in log

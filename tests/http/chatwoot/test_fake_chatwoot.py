"""The fake Chatwoot on a real port, through wasession's own client: routes, auth, errors and signed webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from wasession.chatwoot.client import ChatwootClient, NotSent, Refused
from wasession.domain.chatwoot import signature_problem
from wasession.outbound.addresses import AddressPolicy
from wasession.sandbox.fake_chatwoot import ServedFakeChatwoot

LOCAL = AddressPolicy.parse("127.0.0.1/32")


@pytest.fixture
def served() -> Iterator[ServedFakeChatwoot]:
    with ServedFakeChatwoot() as s:
        yield s


def client(served: ServedFakeChatwoot, token: str | None = None, account: int = 1) -> ChatwootClient:
    return ChatwootClient(served.url, token or served.fake.token, account, LOCAL)


def test_token_account_and_missing_records_answer_as_chatwoot_does(served: ServedFakeChatwoot) -> None:
    assert client(served).profile()["accounts"][0]["id"] == 1
    with pytest.raises(Refused, match="401: Invalid Access Token"):
        client(served, token="wrong").profile()
    with pytest.raises(Refused, match="404: Resource could not be found"):
        client(served, account=77).inbox(1)
    with pytest.raises(Refused, match="404"):
        client(served).inbox(9)
    assert client(served).inbox(1)["channel_type"] == "Channel::Whatsapp"


def test_conversations_messages_status_and_attributes(served: ServedFakeChatwoot) -> None:
    fake = served.fake
    conv = fake.customer_message("4915112345678", "hello")
    api = client(served)
    [contact] = api.search_contacts("4915112345678")
    assert contact["contact_inboxes"][0]["source_id"] == "4915112345678"
    [listed] = api.contact_conversations(contact["id"])
    assert listed["id"] == conv.id and listed["contact_inbox"]["source_id"] == "4915112345678"
    made = api.create_message(conv.id, "reminder", content_attributes={"wasession_message_id": 5})
    assert made["message_type"] == 1 and fake.conversations[conv.id].messages[-1].content == "reminder"
    assert api.toggle_status(conv.id, "resolved")["payload"]["current_status"] == "resolved"
    api.set_custom_attributes(conv.id, {"wasession_closes_at": "x"})
    assert api.conversation(conv.id)["custom_attributes"] == {"wasession_closes_at": "x"}
    with pytest.raises(Refused, match="422"):
        api.toggle_status(conv.id, "sleeping")


def test_a_stopped_chatwoot_is_not_sent_and_a_503_is_not_sent() -> None:
    with ServedFakeChatwoot() as s:
        api = client(s)
        s.fake.fail_with = 503
        with pytest.raises(NotSent):
            api.profile()
    with pytest.raises(NotSent):
        api.profile()  # nothing listens any more


class _Sink(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Sink.got.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_are_signed_as_chatwoot_signs_them(served: ServedFakeChatwoot) -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        served.fake.add_webhook(f"http://127.0.0.1:{sink.server_port}/hook", "s3cret")
        conv = served.fake.customer_message("4915112345678", "hi")
        served.fake.agent_reply(conv.id, "hello from Ada")
        served.fake.flush()
    finally:
        sink.shutdown()
    events = [json.loads(body)["event"] for _, body in _Sink.got]
    assert events == ["conversation_created", "message_created", "message_created"]
    headers, body = _Sink.got[-1]
    now = datetime.now(UTC)
    ts, sig = headers["X-Chatwoot-Timestamp"], headers["X-Chatwoot-Signature"]
    assert signature_problem("s3cret", body, sig, ts, now) is None
    assert signature_problem("other", body, sig, ts, now) is not None
    reply = json.loads(body)
    assert reply["message_type"] == "outgoing" and reply["sender"]["type"] == "user"
    assert reply["conversation"]["contact_inbox"]["source_id"] == "4915112345678"

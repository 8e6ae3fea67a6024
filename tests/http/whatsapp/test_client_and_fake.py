"""CloudClient against FakeCloudApi over ASGI (no sockets), and against transports that fail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from wasession.sandbox.bodies import new_wamid, status_body, text_message_body
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber, PendingWebhook
from wasession.whatsapp.client import DEFAULT_BASE_URL, DEFAULT_GRAPH_VERSION, CloudClient, SendResult
from wasession.whatsapp.errors import (
    AuthError,
    CloudApiError,
    InvalidParameterError,
    OutcomeUnknownError,
    PairRateLimitError,
    ReEngagementError,
    RequestNotSentError,
    RetryAdvice,
    ThrottledError,
    error_for,
    error_from_response,
)
from wasession.whatsapp.payload import InboundMessage, StatusUpdate, parse_webhook
from wasession.whatsapp.signature import SIGNATURE_HEADER, signature_matches

PNID = "106540352242922"
TOKEN = "EAAG-secret-token-do-not-leak"
APP_SECRET = "app-secret-ü"
ANA = "16505551234"
BEN = "16505559999"
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def fake(clock: Clock) -> FakeCloudApi:
    api = FakeCloudApi(clock)
    api.register(FakeNumber(phone_number_id=PNID, access_token=TOKEN, app_secret=APP_SECRET))
    return api


@pytest.fixture
def http(fake: FakeCloudApi) -> Iterator[TestClient]:
    with TestClient(fake.app, base_url="http://fake") as client:
        yield client


@pytest.fixture
def client(http: TestClient) -> CloudClient:
    return CloudClient(http, base_url="http://fake")


def _text(client: CloudClient, to: str | None = ANA, **kw: Any) -> SendResult:
    args: dict[str, Any] = {"phone_number_id": PNID, "access_token": TOKEN, "to": to, "body": "Still there?"}
    args.update(kw)
    return client.send_text(**args)


def _statuses(fake: FakeCloudApi, until: datetime) -> list[StatusUpdate]:
    out: list[StatusUpdate] = []
    for hook in fake.due_webhooks(until):
        raw, headers = fake.signed(hook)
        assert signature_matches(APP_SECRET, raw, headers[SIGNATURE_HEADER])
        out.extend(parse_webhook(raw).statuses)
    return out


# -- sending inside the window --------------------------------------------------------------------


def test_text_inside_the_window(fake: FakeCloudApi, client: CloudClient, clock: Clock) -> None:
    fake.customer_wrote(PNID, ANA, T0 - timedelta(hours=2))
    result = _text(client, callback_data="reminder:42")
    assert result.wamid.startswith("wamid.HBgL")
    assert result.wa_id == ANA and result.user_id is None and result.message_status is None
    [sent] = fake.accepted(PNID)
    assert sent.wamid == result.wamid
    assert (sent.to, sent.recipient, sent.type, sent.body) == ("+" + ANA, None, "text", "Still there?")
    assert sent.callback_data == "reminder:42" and sent.sent_at == T0 and sent.template is None
    # The JSON body exactly as in the reference (§3.2).
    assert sent.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + ANA,
        "type": "text",
        "text": {"preview_url": False, "body": "Still there?"},
        "biz_opaque_callback_data": "reminder:42",
    }
    assert fake.accepted("other") == []


def test_statuses_are_queued_on_the_clock_and_signed(fake: FakeCloudApi, client: CloudClient, clock: Clock) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    wamid = _text(client, callback_data="reminder:7").wamid
    assert fake.next_webhook_at() == T0
    sent = _statuses(fake, clock.now())
    assert [(s.status, s.wamid, s.recipient_id, s.biz_opaque_callback_data) for s in sent] == [
        ("sent", wamid, ANA, "reminder:7")
    ]
    assert sent[0].raw["pricing"]["type"] == "free_customer_service"
    assert fake.next_webhook_at() == T0 + timedelta(seconds=1)
    assert fake.due_webhooks(T0 + timedelta(milliseconds=999)) == []
    later = _statuses(fake, T0 + timedelta(seconds=10))
    assert [(s.status, s.timestamp) for s in later] == [
        ("delivered", T0 + timedelta(seconds=1)),
        ("read", T0 + timedelta(seconds=5)),
    ]
    assert all(s.biz_opaque_callback_data == "reminder:7" for s in later)
    assert fake.next_webhook_at() is None and fake.due_webhooks(T0 + timedelta(days=9)) == []


def test_signed_bodies_are_ascii_escaped_and_verifiable(fake: FakeCloudApi) -> None:
    hook = PendingWebhook(
        T0,
        PNID,
        status_body(
            phone_number_id=PNID,
            wamid="wamid.X",
            status="read",
            timestamp=T0,
            recipient_id=ANA,
            callback_data="café محمد",
        ),
    )
    raw, headers = fake.signed(hook)
    assert b"\\u00e9" in raw and raw.isascii()
    assert headers["Content-Type"] == "application/json"
    assert signature_matches(APP_SECRET, raw, headers[SIGNATURE_HEADER])
    assert not signature_matches("another secret", raw, headers[SIGNATURE_HEADER])
    assert parse_webhook(raw).statuses[0].biz_opaque_callback_data == "café محمد"


def test_custom_status_delays_and_none(clock: Clock) -> None:
    fake = FakeCloudApi(clock, status_delays=(timedelta(seconds=3), timedelta(minutes=2)))
    fake.register(FakeNumber(PNID, TOKEN, APP_SECRET))
    fake.customer_wrote(PNID, ANA, T0)
    with TestClient(fake.app, base_url="http://fake") as http:
        _text(CloudClient(http, base_url="http://fake"))
    assert [h.due_at - T0 for h in fake.due_webhooks(T0 + timedelta(hours=1))] == [
        timedelta(0),
        timedelta(seconds=3),
        timedelta(minutes=2),
    ]

    quiet = FakeCloudApi(clock, status_delays=None)
    quiet.register(FakeNumber(PNID, TOKEN, APP_SECRET))
    quiet.customer_wrote(PNID, ANA, T0)
    with TestClient(quiet.app, base_url="http://fake") as http:
        c = CloudClient(http, base_url="http://fake")
        _text(c)
        assert quiet.next_webhook_at() is None  # no receipts
        _text(c, to=BEN)  # outside the window: the failure still comes
    [failed] = [s for h in quiet.due_webhooks(T0 + timedelta(hours=1)) for s in parse_webhook(h.body).statuses]
    assert failed.status == "failed" and failed.errors[0].code == 131047


def test_reply_preview_and_plus_number(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    _text(client, to="+" + ANA, reply_to="wamid.ORIG", preview_url=True)
    payload = fake.accepted()[0].payload
    assert payload["to"] == "+" + ANA
    assert payload["context"] == {"message_id": "wamid.ORIG"}
    assert payload["text"]["preview_url"] is True
    assert "biz_opaque_callback_data" not in payload


def test_bsuid_recipient(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.customer_wrote(PNID, "US.13491208655302741918", T0)
    result = _text(client, to=None, recipient="US.13491208655302741918")
    assert result.user_id == "US.13491208655302741918" and result.wa_id is None
    [sent] = fake.accepted()
    assert sent.to is None and sent.recipient == "US.13491208655302741918"
    assert "to" not in sent.payload and sent.payload["recipient"] == "US.13491208655302741918"
    [status] = _statuses(fake, T0)
    assert status.recipient_id is None and status.recipient_user_id == "US.13491208655302741918"


def test_to_wins_over_recipient_and_one_is_required(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    _text(client, to=ANA, recipient="US.1")
    assert "recipient" not in fake.accepted()[0].payload
    with pytest.raises(ValueError, match="needs `to`"):
        _text(client, to=None)


# -- the 24-hour window ---------------------------------------------------------------------------


def test_free_form_after_24h_is_accepted_then_fails_with_131047(
    fake: FakeCloudApi, client: CloudClient, clock: Clock
) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    assert fake.last_inbound_at(PNID, "+" + ANA) == T0
    clock.advance(hours=24, seconds=1)
    result = _text(client, callback_data="reminder:1")  # 200: Meta only refuses later
    assert fake.accepted()[0].wamid == result.wamid
    now = clock.now()
    assert fake.next_webhook_at() == now + timedelta(seconds=1)
    [failed] = _statuses(fake, now + timedelta(days=1))  # no sent, delivered or read
    assert (failed.wamid, failed.status, failed.biz_opaque_callback_data) == (
        result.wamid,
        "failed",
        "reminder:1",
    )
    assert failed.timestamp == now + timedelta(seconds=1)
    [error] = failed.errors
    assert (error.code, error.title) == (131047, "Re-engagement message")
    assert error.details and "24 hours" in error.details
    exc = error_for(error)
    assert isinstance(exc, ReEngagementError) and exc.retry is RetryAdvice.NEVER


def test_exactly_24h_is_still_inside(fake: FakeCloudApi, client: CloudClient, clock: Clock) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    clock.advance(hours=24)
    _text(client)
    assert [s.status for s in _statuses(fake, clock.now() + timedelta(minutes=1))] == [
        "sent",
        "delivered",
        "read",
    ]


def test_unknown_user_is_outside_the_window(fake: FakeCloudApi, client: CloudClient) -> None:
    _text(client, to=BEN)
    assert [s.status for s in _statuses(fake, T0 + timedelta(minutes=1))] == ["failed"]


def test_latest_customer_message_counts(fake: FakeCloudApi, client: CloudClient, clock: Clock) -> None:
    fake.customer_wrote(PNID, ANA, T0 + timedelta(hours=10))
    fake.customer_wrote(PNID, ANA, T0)  # late delivery of an older message does not move it back
    assert fake.last_inbound_at(PNID, ANA) == T0 + timedelta(hours=10)
    assert fake.last_inbound_at(PNID, BEN) is None
    clock.advance(hours=30)
    _text(client)
    assert "failed" not in [s.status for s in _statuses(fake, clock.now() + timedelta(minutes=1))]


def test_template_is_allowed_outside_the_window(fake: FakeCloudApi, client: CloudClient) -> None:
    result = client.send_template(
        phone_number_id=PNID,
        access_token=TOKEN,
        to=ANA,
        name="session_followup",
        language="en_US",
        body_parameters={"first_name": "Ana"},
        callback_data="tpl",
    )
    assert result.message_status == "accepted"
    [sent] = fake.accepted()
    assert sent.type == "template" and sent.body is None
    assert sent.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + ANA,
        "type": "template",
        "template": {
            "name": "session_followup",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}],
                }
            ],
        },
        "biz_opaque_callback_data": "tpl",
    }
    assert sent.template == sent.payload["template"]
    statuses = _statuses(fake, T0 + timedelta(minutes=1))
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]
    assert statuses[0].raw["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }


def test_template_positional_and_no_parameters(fake: FakeCloudApi, client: CloudClient) -> None:
    client.send_template(
        phone_number_id=PNID,
        access_token=TOKEN,
        to=ANA,
        name="a",
        language="en",
        body_parameters=["Ana", "Acme"],
    )
    client.send_template(phone_number_id=PNID, access_token=TOKEN, to=ANA, name="b", language="en")
    first, second = (m.payload["template"] for m in fake.accepted())
    assert first["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "Acme"}]}
    ]
    assert "components" not in second
    with pytest.raises(TypeError):
        client.send_template(
            phone_number_id=PNID, access_token=TOKEN, to=ANA, name="c", language="en", body_parameters="Ana"
        )


# -- Meta's refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", "", TOKEN + "x"])
def test_bad_token_is_401_code_190(fake: FakeCloudApi, client: CloudClient, token: str) -> None:
    with pytest.raises(AuthError) as caught:
        _text(client, access_token=token)
    assert caught.value.http_status == 401
    assert caught.value.code == 190
    assert caught.value.retry is RetryAdvice.PAUSE_CHANNEL
    assert fake.accepted() == []


def test_missing_authorization_header(http: TestClient) -> None:
    response = http.post(f"/v25.0/{PNID}/messages", json={"messaging_product": "whatsapp"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert response.json()["error"]["type"] == "OAuthException"


def test_unknown_phone_number_id(client: CloudClient) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        _text(client, phone_number_id="999")
    assert caught.value.code == 100 and caught.value.http_status == 400
    assert caught.value.error is not None and caught.value.error.subcode == 33


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"to": "+" + ANA, "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": "abc", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {}},
        {"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {"body": "x" * 4097}},
        {
            "messaging_product": "whatsapp",
            "to": ANA,
            "type": "text",
            "text": {"body": "x", "preview_url": "y"},
        },
        {"messaging_product": "whatsapp", "to": ANA, "type": "selfie", "selfie": {}},
        {"messaging_product": "whatsapp", "to": ANA, "type": "image"},
        {"messaging_product": "whatsapp", "to": ANA, "type": "template", "template": {"name": "x"}},
        {
            "messaging_product": "whatsapp",
            "to": ANA,
            "type": "template",
            "template": {
                "name": "x",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [1]}],
            },
        },
        {
            "messaging_product": "whatsapp",
            "to": ANA,
            "type": "text",
            "text": {"body": "x"},
            "biz_opaque_callback_data": "x" * 513,
        },
        {
            "messaging_product": "whatsapp",
            "to": ANA,
            "recipient_type": "broadcast",
            "type": "text",
            "text": {"body": "x"},
        },
    ],
)
def test_malformed_bodies_are_400_code_100(fake: FakeCloudApi, http: TestClient, body: Any) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = http.post(f"/v25.0/{PNID}/messages", content=content, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100 and error["message"].startswith("(#100)")
    assert isinstance(error_from_response(response.status_code, response.json()), InvalidParameterError)
    assert fake.accepted() == []


def test_unknown_path_and_version(clock: Clock) -> None:
    fake = FakeCloudApi(clock, graph_version="v25.0")
    fake.register(FakeNumber(PNID, TOKEN, APP_SECRET))
    with TestClient(fake.app, base_url="http://fake") as http:
        assert http.get("/v25.0/whatever").json()["error"]["code"] == 100
        with pytest.raises(InvalidParameterError):
            _text(CloudClient(http, base_url="http://fake", graph_version="v19.0"))
        fake.customer_wrote(PNID, ANA, T0)
        _text(CloudClient(http, base_url="http://fake", graph_version="v25.0"))


def test_injected_errors(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    fake.fail_next(130429, count=2)
    fake.fail_next(131056, http_status=400, title="Pair rate limit", details="slow down")
    fake.fail_next(131000, http_status=500)
    for _ in range(2):
        with pytest.raises(ThrottledError) as throttled:
            _text(client)
        assert throttled.value.code == 130429 and throttled.value.retry is RetryAdvice.BACKOFF
        assert throttled.value.error is not None and throttled.value.error.details
    with pytest.raises(PairRateLimitError) as pair:
        _text(client)
    assert pair.value.retry is RetryAdvice.PAIR_BACKOFF
    assert pair.value.error is not None
    assert (pair.value.error.message, pair.value.error.details) == ("(#131056) Pair rate limit", "slow down")
    with pytest.raises(ThrottledError) as server:
        _text(client)
    assert server.value.http_status == 500
    _text(client)  # the queue of injected errors is used up
    assert len(fake.accepted()) == 1
    assert [s.status for s in _statuses(fake, T0)] == ["sent"]


def test_throughput_limit(fake: FakeCloudApi, client: CloudClient, clock: Clock) -> None:
    fake.set_rate_limit(PNID, 3)
    users = [f"1555000{i:04d}" for i in range(10)]
    for u in users:
        fake.customer_wrote(PNID, u, T0)
    for u in users[:3]:
        _text(client, to=u)
    with pytest.raises(ThrottledError) as caught:
        _text(client, to=users[3])
    assert caught.value.code == 130429
    clock.advance(seconds=0.5)
    with pytest.raises(ThrottledError):
        _text(client, to=users[3])
    clock.advance(seconds=0.5)  # the first three are now a full second old
    for u in users[3:6]:
        _text(client, to=u)
    with pytest.raises(ThrottledError):
        _text(client, to=users[6])
    assert len(fake.accepted()) == 6  # refused sends are not counted as sent
    with pytest.raises(ValueError):
        fake.set_rate_limit(PNID, 0)


def test_pair_limit(clock: Clock) -> None:
    fake = FakeCloudApi(clock, pair_burst=5)
    fake.register(FakeNumber(PNID, TOKEN, APP_SECRET))
    fake.customer_wrote(PNID, ANA, T0)
    fake.customer_wrote(PNID, BEN, T0)
    with TestClient(fake.app, base_url="http://fake") as http:
        client = CloudClient(http, base_url="http://fake")
        for _ in range(5):
            _text(client)
        with pytest.raises(PairRateLimitError) as caught:
            _text(client)
        assert caught.value.code == 131056
        _text(client, to=BEN)  # other users are unaffected
        clock.advance(seconds=6)
        _text(client)
    assert len(fake.accepted()) == 7


def test_default_pair_burst_is_45(fake: FakeCloudApi, client: CloudClient) -> None:
    assert fake.pair_burst == 45
    fake.customer_wrote(PNID, ANA, T0)
    for _ in range(45):
        _text(client)
    with pytest.raises(PairRateLimitError):
        _text(client)


def test_the_token_never_appears_in_errors(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.fail_next(190, http_status=401)
    caught: list[BaseException] = []
    attempts: list[Callable[[], SendResult]] = [
        lambda: _text(client),
        lambda: _text(client, access_token=TOKEN + "!"),
        lambda: _text(client, phone_number_id="1"),
    ]
    for attempt in attempts:
        with pytest.raises(CloudApiError) as exc:
            attempt()
        caught.append(exc.value)
    transport_errors: list[Exception] = [httpx.ReadTimeout("boom"), httpx.ConnectError("boom")]
    for transport_error in transport_errors:
        broken = _client_raising(transport_error)
        with pytest.raises((CloudApiError, OutcomeUnknownError)) as exc2:
            _text(broken)
        caught.append(exc2.value)
    for exc_value in caught:
        assert TOKEN not in str(exc_value) and TOKEN not in repr(exc_value)


# -- transport failures ---------------------------------------------------------------------------


def _client_raising(error: Exception) -> CloudClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return CloudClient(httpx.Client(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("read"),
        httpx.WriteTimeout("write"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_failures_after_sending_are_outcome_unknown(error: Exception) -> None:
    with pytest.raises(OutcomeUnknownError):
        _text(_client_raising(error))


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("pool")]
)
def test_failures_before_sending_are_retryable(error: Exception) -> None:
    with pytest.raises(RequestNotSentError) as caught:
        _text(_client_raising(error))
    assert isinstance(caught.value, ThrottledError) and caught.value.retry is RetryAdvice.BACKOFF
    assert caught.value.error is None


def _client_answering(
    status: int, content: bytes, seen: list[httpx.Request] | None = None, base_url: str = DEFAULT_BASE_URL
) -> CloudClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=content)

    return CloudClient(httpx.Client(transport=httpx.MockTransport(handler)), base_url=base_url)


def test_success_without_a_message_id_is_outcome_unknown() -> None:
    for content in (b"{}", b"not json", b'{"messages": [{}]}', b'{"messages": "x"}'):
        with pytest.raises(OutcomeUnknownError):
            _text(_client_answering(200, content))


@pytest.mark.parametrize(
    ("status", "advice"), [(500, RetryAdvice.BACKOFF), (502, RetryAdvice.BACKOFF), (404, RetryAdvice.NEVER)]
)
def test_error_without_a_meta_body(status: int, advice: RetryAdvice) -> None:
    with pytest.raises(CloudApiError) as caught:
        _text(_client_answering(status, b"<html>oops</html>"))
    assert caught.value.retry is advice and caught.value.http_status == status


def test_request_line_and_headers() -> None:
    seen: list[httpx.Request] = []
    ok = json.dumps(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+1", "wa_id": "1"}],
            "messages": [{"id": "wamid.Z"}],
        }
    ).encode()
    assert _text(_client_answering(200, ok, seen)).wamid == "wamid.Z"
    _text(_client_answering(200, ok, seen, base_url="http://localhost:8000/sandbox/graph/"))
    assert str(seen[0].url) == f"https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}/{PNID}/messages"
    assert str(seen[1].url) == f"http://localhost:8000/sandbox/graph/v25.0/{PNID}/messages"
    assert seen[0].method == "POST"
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen[0].headers["Content-Type"] == "application/json"


# -- load behaviour -------------------------------------------------------------------------------


def test_concurrent_sends_from_many_threads(fake: FakeCloudApi, http: TestClient) -> None:
    users = [f"1666000{i:04d}" for i in range(40)]
    for u in users:
        fake.customer_wrote(PNID, u, T0)
    client = CloudClient(http, base_url="http://fake")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda u: _text(client, to=u), users))
    assert len({r.wamid for r in results}) == 40
    assert sorted(m.to or "" for m in fake.accepted()) == sorted("+" + u for u in users)
    assert len(fake.due_webhooks(T0 + timedelta(minutes=1))) == 120


def test_latency_is_real_time(fake: FakeCloudApi, client: CloudClient) -> None:
    fake.customer_wrote(PNID, ANA, T0)
    fake.set_latency(0.05)
    started = time.monotonic()
    _text(client)
    assert time.monotonic() - started >= 0.05


# -- webhook body builders ------------------------------------------------------------------------


def test_text_message_body_parses_back() -> None:
    at = datetime(2026, 1, 5, 15, 0, 7, 900_000, tzinfo=UTC)
    body = text_message_body(
        phone_number_id=PNID, wa_id=ANA, name="Ana Silva", text="Olá, café?", timestamp=at, user_id="US.5"
    )
    [m] = parse_webhook(json.dumps(body).encode()).messages
    assert isinstance(m, InboundMessage)
    assert (m.phone_number_id, m.wa_id, m.user_id, m.text, m.type) == (
        PNID,
        ANA,
        "US.5",
        "Olá, café?",
        "text",
    )
    assert m.timestamp == at.replace(microsecond=0) and m.opens_window
    assert m.contact is not None and m.contact.profile_name == "Ana Silva"
    assert m.wamid.startswith("wamid.")
    assert body["entry"][0]["id"] == "100000000000001"
    assert body["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"] == "15550000000"


def test_text_message_body_variants() -> None:
    only_user = text_message_body(
        phone_number_id=PNID,
        wa_id=None,
        name=None,
        text="hi",
        timestamp=T0,
        wamid="wamid.FIXED",
        user_id="US.9",
    )
    [m] = parse_webhook(only_user).messages
    assert (m.wamid, m.wa_id, m.user_id) == ("wamid.FIXED", None, "US.9")
    assert "from" not in only_user["entry"][0]["changes"][0]["value"]["messages"][0]
    with pytest.raises(ValueError, match="time zone"):
        text_message_body(phone_number_id=PNID, wa_id=ANA, name=None, text="x", timestamp=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        text_message_body(phone_number_id=PNID, wa_id=None, name=None, text="x", timestamp=T0)


def test_status_body_parses_back() -> None:
    body = status_body(
        phone_number_id=PNID,
        wamid="wamid.S",
        status="failed",
        timestamp=T0,
        recipient_id=ANA,
        callback_data="cb",
        errors=[{"code": 131026, "title": "Message Undeliverable"}],
    )
    [s] = parse_webhook(body).statuses
    assert (s.wamid, s.status, s.timestamp, s.recipient_id, s.biz_opaque_callback_data) == (
        "wamid.S",
        "failed",
        T0,
        ANA,
        "cb",
    )
    assert s.errors[0].code == 131026


def test_new_wamid() -> None:
    ids = {new_wamid() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("wamid.HBgL") for i in ids)

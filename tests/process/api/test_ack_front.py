"""The webhook POST answered in front of the FastAPI app (`wasession.api.ack`), on a real port: a
`wasession serve` process with one channel, and raw sockets or httpx to reach each of its edges."""

from __future__ import annotations

import json
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests.process.security.test_http_body_limits import request_head, status_of, stream_until_answered
from tests.support.processes import HTTP
from tests.support.security import read_response
from tests.support.served import VERIFY_TOKEN, serve_with_channel, text_message
from wasession.api.ack import AckFront
from wasession.api.errors import error_body
from wasession.api.headers import SECURITY_HEADERS
from wasession.ingest.gate import SIGNATURE_INVALID
from wasession.testing import Simulator
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "front-app-secret"
PATH = "/webhooks/whatsapp"


@dataclass
class Front:
    url: str
    port: int
    log_file: Path

    def post(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return HTTP.post(self.url + PATH, content=body, headers=headers, timeout=10)


def message(text: str, phone_number_id: str = PHONE_NUMBER_ID) -> bytes:
    return text_message(text, phone_number_id)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    env = {"WASESSION_BODY_TIMEOUT": "1"}
    with serve_with_channel(tmp_path_factory.mktemp("front"), PHONE_NUMBER_ID, APP_SECRET, env) as served:
        yield Front(served.url, served.port, served.log_file)


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name.decode()) == value.decode(), name


def test_a_signed_body_answers_its_log_id_and_the_same_bytes_answer_the_same_id(front: Front) -> None:
    body = message("hello")
    first = front.post(body, sign(APP_SECRET, body))  # nothing cached yet: the full check, in a thread
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/json"
    assert_security_headers(first)
    log_id = first.json()["id"]
    assert first.content == b'{"status":"ok","id":%d}' % log_id
    again = front.post(body, sign(APP_SECRET, body))  # the secret is cached now: the fast check
    assert again.json() == {"status": "ok", "id": log_id}
    other = message("hello again")
    assert front.post(other, sign(APP_SECRET, other)).json()["id"] > log_id


def test_without_the_signature_header_401(front: Front) -> None:
    response = front.post(message("unsigned"), None)
    assert response.status_code == 401
    assert response.json() == error_body("signature_missing", f"the {SIGNATURE_HEADER} header is required")
    assert_security_headers(response)


def test_a_signature_nothing_verifies_403(front: Front) -> None:
    body = message("forged")
    warm = message("warm the cache")
    assert front.post(warm, sign(APP_SECRET, warm)).status_code == 200
    for forged in (
        sign("not-the-secret", body),  # the cached secret does not sign: the full check decides
        "sha256=" + "0" * 64,
    ):
        response = front.post(body, forged)
        assert response.status_code == 403, response.text
        assert response.json() == error_body("signature_invalid", SIGNATURE_INVALID)
        assert_security_headers(response)
    # A number no channel has, signed by a secret nobody holds (a secret we hold:
    # tests/process/security/test_webhook_gate.py).
    unknown = message("no such channel", phone_number_id="999999999999999")
    response = front.post(unknown, sign("nobody-holds-this", unknown))
    assert response.status_code == 403


def data_segments_in(sock: socket.socket) -> int:
    """`tcpi_data_segs_in` of Linux's struct tcp_info (include/uapi/linux/tcp.h): the segments with
    data this socket received."""
    return int(struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 160), 152)[0])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts segments with Linux's TCP_INFO")
def test_each_answer_comes_in_one_segment(front: Front) -> None:
    """uvicorn writes an answer's head and body in two calls; serve's protocol sends them as one, so
    Meta's connection (and every client) is woken once per answer, not twice (issue 21)."""
    body = message("one segment")
    requests = [
        request_head(PATH, f"Content-Length: {len(body)}", f"{SIGNATURE_HEADER}: {sign(APP_SECRET, body)}") + body,
        request_head(PATH, f"Content-Length: {len(body)}", f"{SIGNATURE_HEADER}: sha256=00") + body,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ]
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        for request, status in zip(requests, (200, 403, 200), strict=True):
            before = data_segments_in(sock)
            sock.sendall(request)
            answer = read_response(sock, timeout=5)
            assert status_of(answer) == status, answer[:300]
            assert data_segments_in(sock) - before == 1, answer[:300]


def test_a_declared_oversized_body_413_before_it_is_read(front: Front) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(request_head(PATH, f"Content-Length: {3 * 1024 * 1024 + 1}", f"{SIGNATURE_HEADER}: sha256=00"))
        answer = read_response(sock, timeout=5)
        assert time.monotonic() - began < 3
    assert status_of(answer) == 413, answer[:300]
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == error_body(
        "payload_too_large", "this request's body is limited to 3 MB"
    )
    assert b"x-frame-options: DENY" in answer


def test_a_chunked_body_is_cut_off_at_the_limit(front: Front) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
        sock.sendall(request_head(PATH, "Transfer-Encoding: chunked", f"{SIGNATURE_HEADER}: sha256=00"))
        sent = stream_until_answered(sock, 64 * 1024 * 1024)
        answer = read_response(sock, timeout=5)
    assert status_of(answer) == 413, answer[:300]
    assert sent < 16 * 1024 * 1024, f"the server answered only after {sent} bytes"
    assert b'"payload_too_large"' in answer


def test_a_body_that_trickles_is_cut_off_with_408(front: Front) -> None:
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
        began = time.monotonic()
        sock.sendall(request_head(PATH, "Content-Length: 1000", f"{SIGNATURE_HEADER}: sha256=00") + b"{" * 10)
        answer = read_response(sock, timeout=5)
        assert time.monotonic() - began < 4
    assert status_of(answer) == 408, answer[:300]
    assert b'"request_timeout"' in answer
    assert b"connection: close" in answer.lower()


def test_the_ack_latency_and_the_refusals_are_counted(front: Front) -> None:
    body = message("counted")
    assert front.post(body, sign(APP_SECRET, body)).status_code == 200
    assert front.post(body, None).status_code == 401
    scrape = HTTP.get(front.url + "/metrics", timeout=10).text
    count = [line for line in scrape.splitlines() if line.startswith("wasession_webhook_ack_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1
    assert 'wasession_webhooks_rejected_total{reason="signature_missing"}' in scrape


def test_other_routes_still_pass_through_the_app(front: Front) -> None:
    handshake = HTTP.get(
        front.url + PATH,
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        timeout=10,
    )
    assert handshake.status_code == 200 and handshake.text == "42"
    health = HTTP.get(front.url + "/healthz", timeout=10)
    assert health.status_code == 200
    assert_security_headers(health)
    assert HTTP.post(front.url + PATH + "/", timeout=10).status_code != 200


def test_the_front_answers_the_post_without_calling_the_app() -> None:
    async def refusing(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the webhook POST reached the app behind the front")

    with Simulator() as sim:
        channel = sim.add_channel()
        front = AckFront(refusing, sim.runtime)
        body = message("hi", phone_number_id=channel.phone_number_id)
        client = TestClient(front)  # no lifespan: the app behind is never called at all
        response = client.post(PATH, content=body, headers={SIGNATURE_HEADER: sign(sim.app_secret, body)})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"

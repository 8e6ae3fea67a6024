"""Bodies are refused by size before a route reads them, and /api/v1 checks the key before the body.

The tests share one server (`module_server`): each only sends it requests, and reads its memory
relative to what it was when the test began."""

from __future__ import annotations

import json
import select
import socket
import time

from tests.support.processes import HTTP
from tests.support.security import Server, read_response

HUGE = 300 * 1024 * 1024
CHUNK = b"[" + b"1," * 32767 + b"1"  # 64 KiB of valid-looking JSON, over and over


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


def json_of(response: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(response.partition(b"\r\n\r\n")[2])
    return body


def request_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stream_until_answered(sock: socket.socket, limit_bytes: int) -> int:
    """Send chunked body data until the server answers (or `limit_bytes` went out); the bytes sent."""
    sent = 0
    while sent < limit_bytes:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        try:
            sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(CHUNK)
    return sent


def test_declared_huge_body_is_refused_at_once_without_reading_it(module_server: Server) -> None:
    server = module_server
    for path, auth in (
        ("/api/v1/channels", f"Authorization: Bearer {server.key}"),
        ("/api/v1/channels", "X-No-Key: 1"),
        ("/webhooks/whatsapp", "X-Hub-Signature-256: sha256=00"),
        ("/dashboard/login", "X-Form: 1"),
    ):
        with server.connect() as sock:
            began = time.monotonic()
            sock.sendall(request_head(path, f"Content-Length: {HUGE}", auth))
            answer = read_response(sock, timeout=5)
            assert time.monotonic() - began < 3, f"{path}: the server waited for the body"
        assert status_of(answer) == 413, (path, answer[:300])
        error = json_of(answer)["error"]
        assert isinstance(error, dict) and error["code"] == "payload_too_large" and error["message"]


def test_chunked_body_with_a_valid_key_is_cut_off_near_the_limit(module_server: Server) -> None:
    server = module_server
    before = server.rss_kib()
    with server.connect(timeout=10) as sock:
        auth = f"Authorization: Bearer {server.key}"
        sock.sendall(request_head("/api/v1/channels", "Transfer-Encoding: chunked", auth))
        sent = stream_until_answered(sock, 64 * 1024 * 1024)
        answer = read_response(sock, timeout=5)
    assert status_of(answer) == 413, answer[:300]
    # Socket buffers hold a few MB in flight; the old server read all 64 MB before answering.
    assert sent < 16 * 1024 * 1024, f"the server answered only after {sent} bytes"
    growth_mib = (server.rss_kib() - before) / 1024
    assert growth_mib < 32, f"server RSS grew {growth_mib:.0f} MiB"


def test_no_key_answers_401_before_any_body_is_sent(module_server: Server) -> None:
    server = module_server
    before = server.rss_kib()
    for headers in (("Transfer-Encoding: chunked",), ("Transfer-Encoding: chunked", "Authorization: Bearer wsk_nope")):
        with server.connect() as sock:
            sock.sendall(request_head("/api/v1/channels", *headers))
            answer = read_response(sock, timeout=5)
        assert status_of(answer) == 401, answer[:300]
        error = json_of(answer)["error"]
        assert isinstance(error, dict) and error["code"] == "unauthorized"
    assert (server.rss_kib() - before) / 1024 < 16


def test_each_route_has_its_own_limit(module_server: Server) -> None:
    server = module_server
    auth = {"Authorization": f"Bearer {server.key}"}
    body = b"x" * (300 * 1024)  # over the 256 KiB JSON limit, under the CSV and webhook ones
    json_api = HTTP.post(server.url + "/api/v1/channels", content=body, headers=auth, timeout=10)
    assert json_api.status_code == 413, json_api.text
    assert json_api.json()["error"]["code"] == "payload_too_large"
    csv = HTTP.post(
        server.url + "/api/v1/contacts/import", content=body, headers={**auth, "Content-Type": "text/csv"}, timeout=10
    )
    assert csv.status_code != 413, csv.text
    webhook = HTTP.post(server.url + "/webhooks/whatsapp", content=body, timeout=10)
    assert webhook.status_code == 401, webhook.text  # read in full, then refused for the missing signature
    too_big = HTTP.post(server.url + "/webhooks/whatsapp", content=b"x" * (3 * 1024 * 1024 + 1), timeout=10)
    assert too_big.status_code == 413, too_big.text

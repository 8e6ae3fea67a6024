"""The runtime's own HTTP transport against a real local HTTP server: each failure must land in the
right one of NotSent / MaybeSent / BadUrl, because the sender's at-most-once rule depends on it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.errors import OutcomeUnknownError, RequestNotSentError
from wasession.whatsapp.transport import BadUrl, MaybeSent, NotSent
from wasession.whatsapp.wire import WireTransport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        drop = self.server.drop_after
        self.server.seen.append((self.path, self.headers.get("Authorization"), body, self.client_address[1]))
        if self.server.hang.is_set():
            self.server.release.wait(5)
        reply = b'{"messages":[{"id":"wamid.OK"}],"contacts":[{"wa_id":"15550001"}]}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        if self.server.close_after:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        if drop:
            self.close_connection = True  # closed without saying so, as an idle timeout would

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None, bytes, int]] = []
        self.status = 200
        self.close_after = False
        self.drop_after = False
        self.hang = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def test_posts_the_body_and_reuses_one_keep_alive_connection(server: _Server) -> None:
    transport = WireTransport()
    for n in range(3):
        answer = transport.post(server.url + "/v25.0/1/messages?x=1", b'{"n":%d}' % n, {"Authorization": "Bearer t"})
        assert answer.status == 200 and b"wamid.OK" in answer.body
    assert [s[0] for s in server.seen] == ["/v25.0/1/messages?x=1"] * 3
    assert [s[2] for s in server.seen] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert server.seen[0][1] == "Bearer t"
    assert len({s[3] for s in server.seen}) == 1  # one client port: the connection was kept
    transport.close()


def test_a_connection_the_server_closed_is_not_reused(server: _Server) -> None:
    """Sending on it would break after the request left and be recorded as outcome unknown."""
    transport = WireTransport()
    server.close_after = True
    transport.post(server.url + "/a", b"{}", {})
    server.close_after = False
    transport.post(server.url + "/b", b"{}", {})
    transport.post(server.url + "/c", b"{}", {})
    ports = [s[3] for s in server.seen]
    assert ports[0] != ports[1] and ports[1] == ports[2]
    transport.close()


def test_an_idle_connection_dropped_by_the_server_is_detected_before_sending(server: _Server) -> None:
    transport = WireTransport()
    server.drop_after = True
    transport.post(server.url + "/a", b"{}", {})
    server.drop_after = False
    (idle,) = [c for conns in transport._idle.values() for c, _ in conns]
    until = time.monotonic() + 5
    while idle.reusable() and time.monotonic() < until:  # until the wire's loop has read the server's FIN
        time.sleep(0.01)
    assert not idle.reusable()
    answer = transport.post(server.url + "/b", b"{}", {})
    assert answer.status == 200 and len(server.seen) == 2
    assert server.seen[0][3] != server.seen[1][3]
    transport.close()


def test_a_connection_idle_too_long_is_not_reused(server: _Server) -> None:
    """Servers close idle keep-alives after a few seconds; one reset mid-request would be `unknown`."""
    transport = WireTransport(max_idle_seconds=0.0)
    transport.post(server.url + "/a", b"{}", {})
    transport.post(server.url + "/b", b"{}", {})
    assert server.seen[0][3] != server.seen[1][3]
    transport.close()


def test_nothing_listening_is_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NotSent):
        WireTransport().post(f"http://127.0.0.1:{port}/x", b"{}", {})


def test_a_timeout_after_the_request_left_may_have_been_sent(server: _Server) -> None:
    server.hang.set()
    with pytest.raises(MaybeSent):
        WireTransport(timeout=0.2).post(server.url + "/slow", b"{}", {})
    assert len(server.seen) == 1  # it did arrive: resending could deliver it twice


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "http://example.com:99999/x"])
def test_unusable_urls_are_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(BadUrl):
        WireTransport().post(url, b"{}", {})


def test_the_cloud_client_maps_transport_failures_for_the_sender(server: _Server) -> None:
    client = CloudClient(WireTransport(), base_url=server.url)
    result = client.send_text(phone_number_id="1", access_token="t", to="15550001", body="hi")
    assert result.wamid == "wamid.OK" and result.wa_id == "15550001"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RequestNotSentError):
        CloudClient(WireTransport(), base_url=f"http://127.0.0.1:{port}").send_text(
            phone_number_id="1", access_token="t", to="1", body="x"
        )
    server.hang.set()
    with pytest.raises(OutcomeUnknownError):
        CloudClient(WireTransport(timeout=0.2), base_url=server.url).send_text(
            phone_number_id="1", access_token="t", to="1", body="x"
        )


def test_origins_behind_a_configured_proxy_go_to_the_proxy_aware_client(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    class Recording:
        def __init__(self) -> None:
            self.urls: list[str] = []

        def post(self, url: str, body: bytes, headers: object) -> object:
            self.urls.append(url)
            return "via proxy"

        def close(self) -> None:
            pass

    proxied = Recording()
    transport = WireTransport(proxied=proxied)  # type: ignore[arg-type]
    assert transport.post("http://graph.example/v25.0/1/messages", b"{}", {}) == "via proxy"
    assert proxied.urls == ["http://graph.example/v25.0/1/messages"]
    assert not server.seen

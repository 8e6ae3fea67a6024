"""Slow and idle clients are timed out, so they cannot hold the server's sockets and file descriptors."""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections.abc import Callable

from tests.support.processes import wait_until
from tests.support.security import Server, healthy, read_response
from wasession.config import Settings

HALF_OPEN = 300
FD_LIMIT = 256  # the child's own limit, so a few hundred sockets are enough to exhaust it


def closed_by_server(sock: socket.socket, within: float, dribble: bytes = b"") -> bool:
    """True once the server closes `sock`; meanwhile send `dribble` a byte at a time, one every 0.2 s."""
    deadline = time.monotonic() + within
    position = 0
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return True
            except ConnectionResetError:
                return True
        if position < len(dribble):
            try:
                sock.send(dribble[position : position + 1])
            except (BrokenPipeError, ConnectionResetError):
                return True
            position += 1
    return False


def test_half_open_connections_do_not_starve_healthz(start_server: Callable[..., Server]) -> None:
    server = start_server(nofile=FD_LIMIT, WASESSION_HEADER_TIMEOUT="1")
    sockets: list[socket.socket] = []
    try:
        for _ in range(HALF_OPEN):
            sock = socket.socket()
            sock.settimeout(2)
            with contextlib.suppress(OSError):  # past the server's backlog a connect may time out
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            sockets.append(sock)
        # The old server kept every one of them open: with its descriptors gone, /healthz never answered.
        wait_until("/healthz to answer beside 300 half-open connections", lambda: healthy(server.url), 15)
        assert server.proc.poll() is None
    finally:
        for sock in sockets:
            sock.close()


def test_a_slowloris_is_cut_off(start_server: Callable[..., Server]) -> None:
    server = start_server(WASESSION_HEADER_TIMEOUT="1")
    headers = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    with server.connect() as sock:
        began = time.monotonic()
        assert closed_by_server(sock, within=6, dribble=headers), "a client dribbling headers was never cut"
        assert time.monotonic() - began < 4
    # the second request on a kept-alive connection gets the same deadline
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in read_response(sock, timeout=3)[:40]
        assert closed_by_server(sock, within=6, dribble=b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200)


def test_a_body_that_never_finishes_answers_408(start_server: Callable[..., Server]) -> None:
    server = start_server(WASESSION_BODY_TIMEOUT="1")
    with server.connect() as sock:
        began = time.monotonic()
        sock.sendall(
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b"{" * 10
        )
        answer = read_response(sock, timeout=5)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert b'"request_timeout"' in answer
        assert time.monotonic() - began < 4


def test_uvicorn_options_bound_connections_and_idle_time() -> None:
    from wasession.api.serving import RESERVED_FDS, uvicorn_options

    options = uvicorn_options(Settings(max_connections=50_000, keepalive_timeout=7, backlog=512))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert options["limit_concurrency"] <= soft - RESERVED_FDS
    assert options["timeout_keep_alive"] == 7
    assert options["backlog"] == 512
    assert options["http"].header_timeout == 10.0


IDLE = 2_000


def test_two_thousand_idle_sockets_at_the_default_open_files_limit_leave_healthz_and_webhooks_answering(
    start_server: Callable[..., Server],
) -> None:
    """Issue 25: on edca2c2, 1,100 idle sockets made /healthz fail at the default limit of 1,024 (hard
    limit too here, so raising the soft limit cannot help): the cap below it closes the idlest instead."""
    server = start_server(nofile=1024)  # the default header deadline (10 s): the sockets stay idle throughout
    sockets: list[socket.socket] = []
    try:
        for n in range(IDLE):
            sock = socket.socket()
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                sock.connect(("127.0.0.1", server.port))
                if n % 2:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # a slowloris never finishing
            sockets.append(sock)
        began = time.monotonic()
        for _ in range(3):
            assert healthy(server.url), "/healthz did not answer beside 2,000 idle sockets"
        with server.connect() as sock:
            sock.sendall(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}"
            )
            assert read_response(sock, timeout=5).startswith(b"HTTP/1.1 "), "the webhook endpoint did not answer"
        assert time.monotonic() - began < 10  # answered while the idle sockets are still within their deadline
        assert server.proc.poll() is None
    finally:
        for sock in sockets:
            sock.close()

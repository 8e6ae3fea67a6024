"""One guarded HTTP POST to a tenant-chosen URL: checked addresses, a total deadline, a capped answer.

Why not an ordinary client: their timeouts are per socket operation (a receiver sending one byte every few
seconds holds the call for ever), they read whole answers, and they resolve the name again after any check
we made, so a rebinding DNS answer could send the request to 127.0.0.1. Here the name is resolved once,
every answer is checked, the socket connects to a checked address, and the Host header and TLS SNI still
carry the hostname so virtual hosts and certificates work. A timer shuts the socket at the deadline,
whatever the call is waiting for.

Failures are reported by category only (`refused_address`, `connect_failed`, `timeout`, `tls_error`,
`http_<status>`, `too_large`): the raw exception text would tell a tenant what is listening where.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from wasession.outbound.addresses import (
    AddressPolicy,
    RefusedURL,
    Resolver,
    check_url,
    resolve_checked,
    system_resolver,
)

DEADLINE_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024
_CHUNK = 8192

REFUSED_ADDRESS = "refused_address"
CONNECT_FAILED = "connect_failed"
TIMEOUT = "timeout"
TLS_ERROR = "tls_error"
TOO_LARGE = "too_large"


@dataclass(frozen=True)
class OutboundResult:
    status: int | None  # the HTTP status, when an answer's status line arrived
    error: str | None  # None on a 2xx answer, else one of the categories above
    body: bytes = b""  # at most max_answer bytes of the answer
    truncated: bool = False  # the answer was longer than max_answer; the rest was never read

    @property
    def ok(self) -> bool:
        return self.error is None


class _Deadline:
    """Shuts the socket when the time is up, so a blocked connect, handshake or read returns at once."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("deadline")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is not None:
            # The plain socket's shutdown, not SSLSocket's, which would drop its SSL state under a reader.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def guarded_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    policy: AddressPolicy,
    resolver: Resolver = system_resolver,
    deadline: float = DEADLINE_SECONDS,
    max_answer: int = MAX_ANSWER_BYTES,
    tls: ssl.SSLContext | None = None,
) -> OutboundResult:
    """POST `body` to `url`; never raises for anything the far side or DNS can do."""
    return guarded_request(
        "POST", url, body, headers, policy=policy, resolver=resolver, deadline=deadline, max_answer=max_answer, tls=tls
    )


def guarded_request(
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    *,
    policy: AddressPolicy,
    resolver: Resolver = system_resolver,
    deadline: float = DEADLINE_SECONDS,
    max_answer: int = MAX_ANSWER_BYTES,
    tls: ssl.SSLContext | None = None,
) -> OutboundResult:
    """`method` (GET or POST) to `url` under the same guards as `guarded_post` (a tenant's Chatwoot
    is as hostile a far side as its webhook receiver)."""
    try:
        target = check_url(url, policy)
    except RefusedURL:
        return OutboundResult(None, REFUSED_ADDRESS)
    timer = _Deadline(deadline)
    sock: socket.socket | None = None
    try:
        try:
            addresses = resolve_checked(target, policy, resolver)
        except RefusedURL:
            return OutboundResult(None, REFUSED_ADDRESS)
        except (OSError, UnicodeError, ValueError):
            return OutboundResult(None, CONNECT_FAILED)
        sock = _connect([str(a) for a in addresses], target.port, timer)
        if sock is None:
            return OutboundResult(None, TIMEOUT if timer.expired else CONNECT_FAILED)
        if target.scheme == "https":
            context = tls or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=target.host)
            timer.watch(sock)
        return _exchange(sock, method, target.host_header, target.path, body, headers, timer, max_answer)
    except ssl.SSLError:
        return OutboundResult(None, TIMEOUT if timer.expired else TLS_ERROR)
    except ssl.CertificateError:
        return OutboundResult(None, TLS_ERROR)
    except (http.client.LineTooLong, http.client.HTTPException) as exc:
        if timer.expired:
            return OutboundResult(None, TIMEOUT)
        return OutboundResult(None, TOO_LARGE if _too_large(exc) else CONNECT_FAILED)
    except OSError:  # TimeoutError included
        return OutboundResult(None, TIMEOUT if timer.expired else CONNECT_FAILED)
    except ValueError:  # a header or answer http.client cannot handle
        return OutboundResult(None, CONNECT_FAILED)
    finally:
        timer.cancel()
        if sock is not None:
            sock.close()


def _too_large(exc: http.client.HTTPException) -> bool:
    return isinstance(exc, http.client.LineTooLong) or "more than" in str(exc)


def _connect(addresses: list[str], port: int, timer: _Deadline) -> socket.socket | None:
    """A socket connected to the first checked address that answers, before the deadline."""
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            timer.watch(sock)
            sock.settimeout(timer.remaining())
            sock.connect((address, port))
            return sock
        except OSError:
            sock.close()
            if timer.expired:
                return None
    return None


def _exchange(
    sock: socket.socket,
    method: str,
    host_header: str,
    path: str,
    body: bytes | None,
    headers: Mapping[str, str],
    timer: _Deadline,
    max_answer: int,
) -> OutboundResult:
    conn = http.client.HTTPConnection(host_header)
    conn.sock = sock  # already connected to the checked address: http.client never resolves the name
    sock.settimeout(timer.remaining())  # no single operation outlives the deadline, even without the timer
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host_header)
    conn.putheader("Connection", "close")
    for name, value in headers.items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    chunks: list[bytes] = []
    size = 0
    truncated = False
    while True:
        timer.remaining()
        chunk = response.read1(min(_CHUNK, max_answer + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > max_answer:
            truncated = True  # the rest is left unread; closing the socket discards it
            break
    content = b"".join(chunks)[:max_answer]
    status = response.status
    error = None if 200 <= status < 300 else f"http_{status}"
    return OutboundResult(status, error, content, truncated)

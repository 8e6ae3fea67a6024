"""How a send reaches the Graph API: one POST, answered or failed in one of three ways.

The sender's at-most-once guarantee needs every failure sorted into "certainly not sent"
(`NotSent`), "may have been sent" (`MaybeSent`) or "cannot be sent to this URL" (`BadUrl`).

Every exchange has a total deadline (connect, request and the whole answer) and a cap on the answer's
size. A per-read timeout alone lets a server that trickles a byte every few seconds hold a sender worker
for as long as it likes, and an unbounded read lets it fill memory; both come from a channel's Graph base
URL, which an administrator may point anywhere. Running out of either after the request left is
`MaybeSent`: the message may be on its way.

Two transports:
- `HttpxTransport` wraps an `httpx.Client`; tests and the Simulator inject one whose transport is
  the in-process fake Cloud API.
- `PooledTransport` is the runtime's own: keep-alive HTTP/1.1 connections from the standard library.
  httpx spends about 1 ms of CPU on each request and http.client about 0.15 ms (measured against
  the fake, bench/send_throughput.py); at 1,000 sends a second in one process that is the
  difference between fitting under the GIL and not (docs/benchmarks.md, B4). Origins that the
  environment routes through a proxy (HTTPS_PROXY, NO_PROXY…) go to an httpx client instead,
  which honours those settings.
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes


class TransportError(Exception):
    pass


class NotSent(TransportError):
    """No connection was made, so no byte of the request left: safe to try again."""


class MaybeSent(TransportError):
    """The connection broke or timed out after the request (or part of it) went out."""


class BadUrl(TransportError):
    """The URL cannot be used at all (scheme, host): no request can ever succeed."""


class Transport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse: ...

    def get(self, url: str, headers: Mapping[str, str]) -> RawResponse: ...

    def close(self) -> None: ...


# Meta's answer to a send is a few hundred bytes; the fake's error pages a few kilobytes.
MAX_ANSWER_BYTES = 1 << 20
# The whole exchange, connect included; Meta answers a send in well under a second.
DEADLINE_SECONDS = 15.0


class AnswerTooLarge(MaybeSent):
    """The answer went past the size cap; the request had left, so the message may be on its way."""


class DeadlinePassed(MaybeSent):
    """The exchange ran past its total deadline after the request (or part of it) went out."""


class HttpxTransport:
    """Streams the answer so that the size cap and the deadline are checked as it arrives. httpx's own
    timeouts are per operation; each is capped by the time left, and the deadline is checked between
    reads, so a trickling server overruns the deadline by at most the gap between two of its bytes."""

    def __init__(
        self, client: httpx.Client, *, deadline: float = DEADLINE_SECONDS, max_answer_bytes: int = MAX_ANSWER_BYTES
    ) -> None:
        self.client = client
        self.deadline = deadline
        self.max_answer = max_answer_bytes

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        return self._exchange("POST", url, body, headers)

    def get(self, url: str, headers: Mapping[str, str]) -> RawResponse:
        return self._exchange("GET", url, None, headers)

    def _exchange(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> RawResponse:
        until = time.monotonic() + self.deadline
        try:
            # Identity: a compressed answer could expand far past the cap within one chunk.
            with self.client.stream(
                method,
                url,
                content=body,
                headers={"Accept-Encoding": "identity", **headers},
                timeout=self._timeout(self.client.timeout),
            ) as response:
                return RawResponse(response.status_code, self._read(response, until))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(type(exc).__name__) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BadUrl(type(exc).__name__) from exc
        except httpx.TransportError as exc:  # ReadTimeout, WriteError, RemoteProtocolError…
            raise MaybeSent(type(exc).__name__) from exc

    def _timeout(self, configured: httpx.Timeout) -> httpx.Timeout:
        def capped(value: float | None) -> float:
            return self.deadline if value is None else min(value, self.deadline)

        return httpx.Timeout(
            connect=capped(configured.connect),
            read=capped(configured.read),
            write=capped(configured.write),
            pool=capped(configured.pool),
        )

    def _read(self, response: httpx.Response, until: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_answer:
            raise AnswerTooLarge(f"the answer declares {declared} bytes, over the {self.max_answer}-byte cap")
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > self.max_answer:
                raise AnswerTooLarge(f"the answer ran past the {self.max_answer}-byte cap")
            if time.monotonic() > until:
                raise DeadlinePassed(f"no whole answer within {self.deadline:g} s")
        return bytes(data)

    def close(self) -> None:
        self.client.close()


Origin = tuple[str, str, int]
# A connection idle this long is closed rather than reused: servers drop idle keep-alives after a
# few seconds (uvicorn after 5), and a request sent just as the server closes its end is reset and
# must be recorded `unknown`. Seen in bench/reminder_backlog.py: 22 of 1,000,000 after a stall.
MAX_IDLE_SECONDS = 4.0


class PooledTransport:
    """`timeout` is the total deadline of one exchange, connect included; `connect_timeout` bounds the
    connect alone (within it)."""

    def __init__(
        self,
        *,
        timeout: float = DEADLINE_SECONDS,
        connect_timeout: float = 5.0,
        max_idle_per_origin: int = 32,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        proxied: HttpxTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_answer = max_answer_bytes
        self.max_idle = max_idle_per_origin
        self.max_idle_seconds = max_idle_seconds
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        # Both built on first need (start-up time): loading the CA store takes tens of milliseconds.
        self._ssl: ssl.SSLContext | None = None
        self._proxied = proxied
        self._proxies = urllib.request.getproxies()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        return self._exchange("POST", url, body, headers)

    def get(self, url: str, headers: Mapping[str, str]) -> RawResponse:
        return self._exchange("GET", url, None, headers)

    def _exchange(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> RawResponse:
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise BadUrl(f"unsupported URL {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise BadUrl(f"bad port in {url!r}") from exc
        if self._uses_proxy(parts.scheme, host):
            if self._proxied is None:
                self._proxied = HttpxTransport(
                    httpx.Client(timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout)),
                    deadline=self.timeout,
                    max_answer_bytes=self.max_answer,
                )
            if body is None:
                return self._proxied.get(url, headers)
            return self._proxied.post(url, body, headers)
        origin = (parts.scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        until = time.monotonic() + self.timeout
        conn = self._checkout(origin)
        if conn.sock is None:
            conn.timeout = min(self.connect_timeout, self.timeout)
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:  # refused, unreachable, DNS, TLS
                conn.close()
                raise NotSent(f"{type(exc).__name__}: {exc}") from exc
            assert conn.sock is not None
            conn.sock = _DeadlineSocket(conn.sock)
        sock = conn.sock
        assert isinstance(sock, _DeadlineSocket)
        sock.until = until
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            response = conn.getresponse()
            data = self._read(response)
        except (OSError, http.client.HTTPException, MaybeSent) as exc:
            conn.close()
            if isinstance(exc, MaybeSent):
                raise
            if isinstance(exc, TimeoutError) and time.monotonic() >= until:
                raise DeadlinePassed(f"no whole answer within {self.timeout:g} s") from exc
            raise MaybeSent(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        return RawResponse(response.status, data)

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            if response.length is not None and response.length > self.max_answer:
                raise AnswerTooLarge(
                    f"the answer declares {response.length} bytes, over the {self.max_answer}-byte cap"
                )
            data = response.read(self.max_answer + 1)
            if len(data) > self.max_answer:
                raise AnswerTooLarge(f"the answer ran past the {self.max_answer}-byte cap")
        except BaseException:
            response.close()  # its reader holds the socket open
            raise
        return data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()
        if self._proxied is not None:
            self._proxied.close()

    def _uses_proxy(self, scheme: str, host: str) -> bool:
        return scheme in self._proxies and not urllib.request.proxy_bypass(host)

    def _checkout(self, origin: Origin) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conns = self._idle.get(origin)
                conn, since = conns.pop() if conns else (None, 0.0)
            if conn is None:
                return self._new(origin)
            if time.monotonic() - since < self.max_idle_seconds and _still_open(conn):
                return conn
            conn.close()

    def _checkin(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(origin, [])
            if len(conns) < self.max_idle:
                conns.append((conn, time.monotonic()))
                return
        conn.close()

    def _new(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.connect_timeout, context=self._ssl)
        return http.client.HTTPConnection(host, port, timeout=self.connect_timeout)


class _DeadlineSocket:
    """A connected socket whose every wait is bounded by the time left until `until` (monotonic), so the
    deadline covers the whole exchange however the server paces its bytes. It stands in for the socket
    inside `http.client`, which sends with `sendall` and reads through `makefile("rb")`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.until = time.monotonic()
        # As with a real socket's makefile: http.client closes the connection of a `Connection: close`
        # answer before reading its body, so the socket really closes only once its reader has.
        self._readers = 0
        self._close_wanted = False

    def _arm(self) -> None:
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the exchange's deadline passed")
        self.sock.settimeout(left)

    def sendall(self, data: Any) -> None:
        self._arm()
        self.sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._arm()
        return self.sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._close_wanted and self._readers <= 0:
            self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def close(self) -> None:
        self._close_wanted = True
        if self._readers <= 0:
            self.sock.close()

    def __getattr__(self, name: str) -> Any:  # anything else http.client may ask of its socket
        return getattr(self.sock, name)


class _Reader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.reader_closed()
        super().close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the server has closed reads as ready (EOF). Sending on it
    would fail after the request left and be recorded as outcome unknown, so it is dropped
    before use instead."""
    sock = conn.sock
    if sock is None:
        return False
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False

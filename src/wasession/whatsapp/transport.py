"""How a send reaches the Graph API: one POST, answered or failed in one of three ways.

The sender's at-most-once guarantee needs every failure sorted into "certainly not sent"
(`NotSent`), "may have been sent" (`MaybeSent`) or "cannot be sent to this URL" (`BadUrl`).

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
import select
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
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

    def close(self) -> None: ...


class HttpxTransport:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        try:
            response = self.client.post(url, content=body, headers=dict(headers))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(type(exc).__name__) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BadUrl(type(exc).__name__) from exc
        except httpx.TransportError as exc:  # ReadTimeout, WriteError, RemoteProtocolError…
            raise MaybeSent(type(exc).__name__) from exc
        return RawResponse(response.status_code, response.content)

    def close(self) -> None:
        self.client.close()


Origin = tuple[str, str, int]
# A connection idle this long is closed rather than reused: servers drop idle keep-alives after a
# few seconds (uvicorn after 5), and a request sent just as the server closes its end is reset and
# must be recorded `unknown`. Seen in bench/reminder_backlog.py: 22 of 1,000,000 after a stall.
MAX_IDLE_SECONDS = 4.0


class PooledTransport:
    def __init__(
        self,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_idle_per_origin: int = 32,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        proxied: HttpxTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle_per_origin
        self.max_idle_seconds = max_idle_seconds
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        # Both built on first need (start-up time): loading the CA store takes tens of milliseconds.
        self._ssl: ssl.SSLContext | None = None
        self._proxied = proxied
        self._proxies = urllib.request.getproxies()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
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
                    httpx.Client(timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout))
                )
            return self._proxied.post(url, body, headers)
        origin = (parts.scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self._checkout(origin)
        if conn.sock is None:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:  # refused, unreachable, DNS, TLS
                conn.close()
                raise NotSent(f"{type(exc).__name__}: {exc}") from exc
            assert conn.sock is not None
            conn.sock.settimeout(self.timeout)
        try:
            conn.request("POST", target, body=body, headers=dict(headers))
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise MaybeSent(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        return RawResponse(response.status, data)

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

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
  the in-process fake Cloud API, and proxied origins go through one.
- `wire.WireTransport` is the runtime's own: keep-alive HTTP/1.1 connections on one event loop.
  httpx spends about 1 ms of CPU on each request (measured against the fake,
  bench/send_throughput.py); at 1,000 sends a second in one process that is the difference between
  fitting under the GIL and not (docs/benchmarks.md, B4 and B7).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

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

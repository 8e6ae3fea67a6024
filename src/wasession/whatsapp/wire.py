"""Outbound HTTP/1.1 on one event loop: the sender's requests to the Graph API, thousands a second.

Before this, every send held a thread for its whole exchange (`http.client` over a pooled socket): at
1,000 sends a second 128 threads took turns on the GIL, and a `serve` spent about a third of its CPU in
them, a good part of it in the kernel switching between them (bench/closed_loop.py, docs/benchmarks.md,
B7). Here the exchanges are tasks on one event loop in a thread of its own (`Wire`): a send costs a
task and two buffer operations, and waiting for Meta's answer costs nothing.

`WireTransport` keeps `transport.py`'s promises: every exchange has a total deadline (connect, request
and the whole answer) and a cap on the answer's size, and every failure is sorted into `NotSent` (no
connection was made), `MaybeSent` (the request may have left) or `BadUrl`. Keep-alive connections are
reused per origin, never one the server has closed or that sat idle past `max_idle_seconds`. It is a
`Transport` too: a thread may call `post` and `get` and wait, as for the Graph's reads; the sender
awaits `exchange` on the wire's loop instead. Origins the environment routes through a proxy go to an
httpx client (in the loop's executor), which honours those settings.

The answer is parsed here (status line, headers, a Content-Length, chunked or close-delimited body) as
RFC 9112 describes it; only what a JSON API answers is supported (no upgrades, no trailers kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx

from wasession.whatsapp.transport import (
    DEADLINE_SECONDS,
    MAX_ANSWER_BYTES,
    AnswerTooLarge,
    BadUrl,
    DeadlinePassed,
    HttpxTransport,
    MaybeSent,
    NotSent,
    RawResponse,
)

T = TypeVar("T")

# A connection idle this long is closed rather than reused: servers drop idle keep-alives after a
# few seconds (uvicorn after 5), and a request sent just as the server closes its end is reset and
# must be recorded `unknown`. Seen in bench/reminder_backlog.py: 22 of 1,000,000 after a stall.
MAX_IDLE_SECONDS = 4.0
# An answer's status line and headers; Meta's are well under a kilobyte.
MAX_HEAD_BYTES = 64 * 1024

Origin = tuple[str, str, int]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (it comes with uvicorn[standard], as `serve`'s own loop does),
    else asyncio's. In B7 (1,000 sends a second) the wire's thread took a fifth less CPU on uvloop: its
    socket reads and writes run in C, and the thread holds `serve`'s GIL less while the acks wait for it."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Wire:
    """An event loop in a daemon thread of its own, started on first use. `start` hands it a batch of
    coroutines in one call; `call` runs one and waits for it, from any other thread."""

    def __init__(self, name: str = "wasession-wire") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = new_event_loop()
                thread = threading.Thread(target=self._run, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop(self) -> bool:
        return self._thread is threading.current_thread()

    def start(self, coroutines: list[Callable[[], Awaitable[T]]]) -> list[Future[T]]:
        """Run each coroutine function as a task on the loop; their futures, for any thread to wait on.
        One wake-up of the loop for the whole batch."""
        futures: list[Future[T]] = [Future() for _ in coroutines]
        if coroutines:
            self.loop.call_soon_threadsafe(self._spawn, list(zip(coroutines, futures, strict=True)))
        return futures

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result (from another thread: the loop's own would
        wait for itself)."""
        if self.in_loop():
            coroutine.close()
            raise RuntimeError("Wire.call from the wire's own thread would wait for itself; await instead")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Cancel what still runs and end the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # already stopped
            asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    @staticmethod
    def _spawn(work: list[tuple[Callable[[], Awaitable[T]], Future[T]]]) -> None:
        for coroutine, future in work:
            asyncio.ensure_future(coroutine()).add_done_callback(partial(_settle, future))


def _settle(future: Future[T], task: asyncio.Future[T]) -> None:
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class WireTransport:
    """`timeout` is the total deadline of one exchange, connect included; `connect_timeout` bounds the
    connect alone (within it). Connections live on `wire`'s loop; None: a wire of its own."""

    def __init__(
        self,
        wire: Wire | None = None,
        *,
        timeout: float = DEADLINE_SECONDS,
        connect_timeout: float = 5.0,
        max_idle_per_origin: int = 32,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        proxied: HttpxTransport | None = None,
    ) -> None:
        self.wire = wire or Wire()
        self._own_wire = wire is None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle_per_origin
        self.max_idle_seconds = max_idle_seconds
        self.max_answer = max_answer_bytes
        self._idle: dict[Origin, list[tuple[_Connection, float]]] = {}  # touched on the loop only
        # Built on first need (start-up time): loading the CA store takes tens of milliseconds.
        self._ssl: ssl.SSLContext | None = None
        self._proxied = proxied
        self._proxies = urllib.request.getproxies()

    # -- the Transport protocol, for threads ------------------------------------------------------

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        return self.wire.call(self.exchange("POST", url, body, headers))

    def get(self, url: str, headers: Mapping[str, str]) -> RawResponse:
        return self.wire.call(self.exchange("GET", url, None, headers))

    def close(self) -> None:
        if self.wire.in_loop():
            raise RuntimeError("WireTransport.close from the wire's own thread")
        with contextlib.suppress(RuntimeError):  # the wire was closed first: its connections went with it
            self.wire.call(self._close_idle())
        if self._proxied is not None:
            self._proxied.close()
        if self._own_wire:
            self.wire.close()

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()

    # -- one exchange, on the wire's loop ---------------------------------------------------------

    async def exchange(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> RawResponse:
        origin, target, host_header = _split(url)
        scheme, host, _ = origin
        if self._uses_proxy(scheme, host):
            return await self._through_proxy(url, body, headers)
        head = _request_head(method, target, host_header, headers, body)
        loop = asyncio.get_running_loop()
        until = loop.time() + self.timeout
        connection = await self._checkout(origin, until)
        try:
            async with asyncio.timeout_at(until):
                connection.write(head, body)
                status, keep = await connection.read_answer(method, self.max_answer)
        except AnswerTooLarge:
            connection.close()
            raise
        except TimeoutError as exc:
            connection.close()
            raise DeadlinePassed(f"no whole answer within {self.timeout:g} s") from exc
        except (OSError, _BadAnswer) as exc:
            connection.close()
            raise MaybeSent(f"{type(exc).__name__}: {exc}") from exc
        data = connection.take_body()
        if keep:
            self._checkin(origin, connection)
        else:
            connection.close()
        return RawResponse(status, data)

    async def _checkout(self, origin: Origin, until: float) -> _Connection:
        loop = asyncio.get_running_loop()
        idle = self._idle.get(origin)
        while idle:
            connection, since = idle.pop()
            if loop.time() - since < self.max_idle_seconds and connection.reusable():
                return connection
            connection.close()
        scheme, host, port = origin
        secure = scheme == "https"
        if secure and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            async with asyncio.timeout_at(min(until, loop.time() + self.connect_timeout)):
                _, connection = await loop.create_connection(
                    _Connection,
                    host,
                    port,
                    ssl=self._ssl if secure else None,
                    server_hostname=host if secure else None,
                )
        except (OSError, TimeoutError, ValueError) as exc:  # refused, unreachable, DNS, TLS, a bad host
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        return connection

    def _checkin(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) < self.max_idle:
            idle.append((connection, asyncio.get_running_loop().time()))
        else:
            connection.close()

    def _uses_proxy(self, scheme: str, host: str) -> bool:
        return scheme in self._proxies and not urllib.request.proxy_bypass(host)

    async def _through_proxy(self, url: str, body: bytes | None, headers: Mapping[str, str]) -> RawResponse:
        if self._proxied is None:
            self._proxied = HttpxTransport(
                httpx.Client(timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout)),
                deadline=self.timeout,
                max_answer_bytes=self.max_answer,
            )
        proxied = self._proxied
        loop = asyncio.get_running_loop()
        if body is None:
            return await loop.run_in_executor(None, proxied.get, url, headers)
        return await loop.run_in_executor(None, proxied.post, url, body, headers)


def _split(url: str) -> tuple[Origin, str, str]:
    """(origin, request target, Host header) of `url`; BadUrl when no request can be made to it."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise BadUrl(f"unsupported URL {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BadUrl(f"bad port in {url!r}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.isascii() or any(c <= " " or c == "\x7f" for c in target):
        raise BadUrl(f"unsupported characters in {url!r}")
    named = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme, host, port), target, named if port == default else f"{named}:{port}"


def _request_head(method: str, target: str, host_header: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        # A line break in a header (a pasted access token, say) would split the request in two.
        if not name or any(c in name for c in "\r\n: ") or "\r" in value or "\n" in value:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _BadAnswer(Exception):
    """The server's bytes are not an HTTP/1.x answer."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: the bytes received, read by one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._body = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._cap = MAX_HEAD_BYTES + MAX_ANSWER_BYTES + 64 * 1024

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._cap and self.transport is not None:
            self.transport.pause_reading()  # the reader refuses it as too large; memory stays bounded
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- used by WireTransport -----------------------------------------------------------------------

    def reusable(self) -> bool:
        """Open, and nothing arrived since its last answer (a server that closed it, or sent bytes no
        request asked for, makes it unusable: a request on it would be recorded as outcome unknown)."""
        return not self._eof and not self._buffer and self.transport is not None and not self.transport.is_closing()

    def write(self, head: bytes, body: bytes | None) -> None:
        assert self.transport is not None
        self.transport.write(head + body if body else head)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def take_body(self) -> bytes:
        body = bytes(self._body)
        self._body.clear()
        return body

    async def read_answer(self, method: str, cap: int) -> tuple[int, bool]:
        """Read one answer; its status and whether the connection may be reused. The body is kept for
        `take_body`."""
        self._cap = MAX_HEAD_BYTES + cap + 64 * 1024
        while True:
            head = await self._read_until(b"\r\n\r\n", MAX_HEAD_BYTES, "the answer's headers")
            version, status, fields = _parse_head(head)
            if not 100 <= status < 200 or status == 101:
                break  # 1xx answers are interim: the real one follows
        connection = fields.get(b"connection", b"").lower()
        keep = b"close" not in connection and (version == b"HTTP/1.1" or b"keep-alive" in connection)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, keep
        coding = fields.get(b"transfer-encoding", b"").lower()
        if coding:
            if not coding.rstrip().endswith(b"chunked"):
                raise _BadAnswer(f"unsupported transfer-encoding {coding!r}")
            await self._read_chunked(cap)
            return status, keep
        declared = fields.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise _BadAnswer(f"bad content-length {declared!r}")
            length = int(declared)
            if length > cap:
                raise AnswerTooLarge(f"the answer declares {length} bytes, over the {cap}-byte cap")
            await self._read_into_body(length, cap)
            return status, keep
        await self._read_to_eof(cap)  # delimited by the server closing the connection
        return status, False

    async def _more(self, what: str) -> None:
        if self._eof:
            raise _BadAnswer(f"the connection closed before {what} was complete")
        if self.transport is not None:
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _read_until(self, mark: bytes, limit: int, what: str) -> bytes:
        searched = 0
        while True:
            found = self._buffer.find(mark, searched)
            if found >= 0:
                end = found + len(mark)
                line = bytes(self._buffer[:end])
                del self._buffer[:end]
                return line
            if len(self._buffer) > limit:
                raise _BadAnswer(f"{what} ran past {limit} bytes")
            searched = max(0, len(self._buffer) - len(mark) + 1)
            await self._more(what)

    async def _read_into_body(self, count: int, cap: int) -> None:
        if len(self._body) + count > cap:
            raise AnswerTooLarge(f"the answer ran past the {cap}-byte cap")
        while len(self._buffer) < count:
            await self._more("the answer's body")
        self._body += self._buffer[:count]
        del self._buffer[:count]

    async def _read_chunked(self, cap: int) -> None:
        while True:
            line = await self._read_until(b"\r\n", 1024, "a chunk's size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadAnswer(f"bad chunk size {size_text!r}") from None
            if size == 0:
                while await self._read_until(b"\r\n", MAX_HEAD_BYTES, "the trailers") != b"\r\n":
                    pass
                return
            await self._read_into_body(size, cap)
            if await self._read_until(b"\r\n", 2, "a chunk's end") != b"\r\n":
                raise _BadAnswer("a chunk did not end with CRLF")

    async def _read_to_eof(self, cap: int) -> None:
        while True:
            self._body += self._buffer
            self._buffer.clear()
            if len(self._body) > cap:
                raise AnswerTooLarge(f"the answer ran past the {cap}-byte cap")
            if self._eof:
                return
            await self._more("the answer")


def _parse_head(head: bytes) -> tuple[bytes, int, dict[bytes, bytes]]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise _BadAnswer(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise _BadAnswer(f"a header line without a colon: {line[:80]!r}")
        key = name.strip().lower()
        fields[key] = fields[key] + b"," + value.strip() if key in fields else value.strip()
    return parts[0], int(parts[1]), fields

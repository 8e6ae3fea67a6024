"""How `serve` runs uvicorn so that slow or idle clients cannot hold the server's sockets.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client takes to send
its request headers: a client dribbling one byte every few seconds held a socket (and a file
descriptor) forever. The protocol below closes a connection whose headers are not complete within
`header_timeout` seconds of it opening or of its previous answer. Bodies are bounded in
`wasession.api.limits`.

Idle sockets still cost a file descriptor each until then: 1,100 of them made `/healthz` fail for ~10 s at
the default open-files limit of 1,024, and reconnecting kept it down (issue 25). So the protocol also caps
the connections open at once (`max_open`, below the open-files limit): a connection that would go past it
closes the connection idle longest (waiting for its first request or between requests; never one whose
request is being answered), so a new client is always served and only an idle one pays.

And it writes each answer in one piece: uvicorn writes an answer's head and its body in two calls,
and with TCP_NODELAY each was a send() and a packet of its own, waking the client twice (issue 21).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import resource
import sys
from collections import OrderedDict
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

from wasession.config import Settings

log = logging.getLogger(__name__)

# File descriptors kept back from the connection cap for the database, log files and the engine.
RESERVED_FDS = 64
# Connections closed by the cap are counted by uvicorn until their close runs on the next loop turn.
CAP_MARGIN = 32

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # uvicorn without httptools: the pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]


# WASESSION_HEADER_TIMEOUT's default: what `serve` runs when it is not set.
DEFAULT_HEADER_TIMEOUT = float(Settings.model_fields["header_timeout"].default)


class HeaderDeadlineProtocol(_Base):
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_open: int = 1_000
    # Every open connection of this server, least recently active first (one event loop: no lock).
    _open: ClassVar[OrderedDict[HeaderDeadlineProtocol, None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, OneWritePerTurn(transport, self.loop)))
        self._open[self] = None
        self._arm()
        if len(self._open) >= self.max_open:  # uvicorn answers 503 at max_open (limit_concurrency)
            self._close_idlest()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self in self._open:
            self._open.move_to_end(self)
        self._arm()

    def _idle(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or bool(getattr(cycle, "response_complete", True))

    def _close_idlest(self) -> None:
        """Over the cap: the connection idle longest goes (this new one only if every other is busy)."""
        for connection in self._open:
            if connection is not self and connection._idle():
                break
        else:
            connection = self
        self._open.pop(connection, None)
        log.debug("http: %d connections open, the cap; the longest idle one closed", self.max_open)
        connection.transport.close()

    def _arm(self) -> None:
        self._disarm()
        # A new request replaces self.cycle once its headers are complete; the same cycle at expiry means none came.
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired, self.cycle)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self, cycle_when_armed: object) -> None:
        self._header_timer = None
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            log.debug("http: request headers not complete after %gs; connection closed", self.header_timeout)
            self.transport.close()


class OneWritePerTurn:
    """A transport whose writes of one event-loop turn go out as one: the first schedules the flush
    at the next turn, the rest join it. Everything but writing and closing is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()  # what was written before the close goes first, as the transport's own close does
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(
    header_timeout: float = HeaderDeadlineProtocol.header_timeout, max_open: int = HeaderDeadlineProtocol.max_open
) -> type[asyncio.Protocol]:
    """A protocol class of its own per server: the open connections it counts are that server's. Its
    defaults are `serve`'s own, for the servers (the test harness, the benchmarks' floors) that run
    its stack without its settings."""
    return type(
        "HeaderDeadline",
        (HeaderDeadlineProtocol,),
        {"header_timeout": header_timeout, "max_open": max_open, "_open": OrderedDict()},
    )


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a default 1,024 runs out under a modest flood);
    answers the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %d: %s", soft, exc)
    return soft


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK = 256 * 1024


def large_blocks_back_to_the_system() -> None:
    """Blocks of LARGE_BLOCK or more are mapped on their own and unmapped when freed. glibc otherwise
    raises this threshold after the first large free, and then keeps the 3 MB webhook bodies the relay
    and the ack handle in per-thread heaps for good (issue 25: 8 replaying targets kept ~100 MB)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
    except (OSError, AttributeError):  # not glibc: its allocator has its own policy
        return


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` beside the app, host and port.

    asyncio accepts up to `backlog` sockets in one go before any of their protocols runs, so the cap
    leaves that many descriptors free too: at a limit of 1,024 the listen queue shrinks to a quarter of
    what is left after RESERVED_FDS and the connections to the rest, and an accept never fails."""
    open_files = raise_open_files_limit()
    large_blocks_back_to_the_system()
    concurrency, backlog = settings.max_connections, settings.backlog
    if open_files != resource.RLIM_INFINITY:
        usable = max(40, open_files - RESERVED_FDS)
        backlog = max(16, min(backlog, usable // 4))
        concurrency = max(10, min(concurrency, usable - backlog))
    return {
        "http": protocol_class(settings.header_timeout, max(5, concurrency - CAP_MARGIN)),
        "timeout_keep_alive": settings.keepalive_timeout,
        # The protocol keeps connections under its cap by closing idle ones, so uvicorn's own limit (503 to
        # every new request at it) is only a backstop, CAP_MARGIN above for the closes still under way.
        "limit_concurrency": concurrency,
        "backlog": backlog,
        "h11_max_incomplete_event_size": 64 * 1024,  # request line and headers
    }

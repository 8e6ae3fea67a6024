"""How `serve` runs uvicorn so that slow or idle clients cannot hold the server's sockets.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client takes to send
its request headers: a client dribbling one byte every few seconds held a socket (and a file
descriptor) forever. The protocol below closes a connection whose headers are not complete within
`header_timeout` seconds of it opening or of its previous answer. Bodies are bounded in
`wasession.api.limits`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from wasession.config import Settings

log = logging.getLogger(__name__)

# File descriptors kept back from `limit_concurrency` for the database, log files and the engine.
RESERVED_FDS = 64

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # uvicorn without httptools: the pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]


class HeaderDeadlineProtocol(_Base):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

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


def protocol_class(header_timeout: float) -> type[asyncio.Protocol]:
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})


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


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` beside the app, host and port."""
    open_files = raise_open_files_limit()
    concurrency = settings.max_connections
    if open_files != resource.RLIM_INFINITY:
        concurrency = max(10, min(concurrency, open_files - RESERVED_FDS))
    return {
        "http": protocol_class(settings.header_timeout),
        "timeout_keep_alive": settings.keepalive_timeout,
        "limit_concurrency": concurrency,
        "backlog": settings.backlog,
        "h11_max_incomplete_event_size": 64 * 1024,  # request line and headers
    }

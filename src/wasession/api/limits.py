"""Request bodies bounded in size and in time before any route reads them (a pure ASGI wrapper, so a
body is counted chunk by chunk as it arrives instead of being buffered first).

A declared Content-Length over the route's limit is refused before one byte is read; a body sent
without one (chunked) is refused the moment the running count passes the limit. A body still
incomplete after `timeout` seconds answers 408. Either way the route then sees the client as gone,
its own answer is dropped, and the connection is closed so the rest of the body is never read.
A client that really goes away mid-request costs one DEBUG line, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wasession.api.errors import send_error
from wasession.config import Settings
from wasession.runtime import Runtime
from wasession.runtime_scope import per_runtime, scope_runtime

log = logging.getLogger(__name__)

IMPORT_ROUTE = ("POST", "/api/v1/contacts/import")
WEBHOOK_ROUTE = ("POST", "/webhooks/whatsapp")


@dataclass(frozen=True)
class BodyLimits:
    default: int
    by_route: dict[tuple[str, str], int]
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            default=settings.max_body_bytes,
            by_route={IMPORT_ROUTE: settings.max_import_bytes, WEBHOOK_ROUTE: settings.max_webhook_bytes},
            timeout=settings.body_timeout,
        )

    def limit(self, method: str, path: str) -> int:
        return self.by_route.get((method, path.rstrip("/") or "/"), self.default)


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} KiB"


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def limits_of(runtime: Runtime) -> BodyLimits:
    """The runtime's limits, read from its settings once."""
    return per_runtime(runtime, BodyLimits, lambda rt: BodyLimits.from_settings(rt.settings))


class BodyLimit:
    """Bounds every request by the limits of the runtime serving it (runtime_scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = limits_of(scope_runtime(scope))
        limit = limits.limit(scope["method"], scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await send_error(send, 413, "payload_too_large", f"this request's body is limited to {human_size(limit)}")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout
        received = 0
        body_done = False
        started = False  # the route's response has begun
        answered = False  # this wrapper answered instead of the route

        async def refuse(status: int, code: str, message: str) -> Message:
            nonlocal answered
            if not started and not answered:
                answered = True
                await send_error(send, status, code, message)
            return {"type": "http.disconnect"}

        async def bounded_receive() -> Message:
            nonlocal received, body_done
            if answered:
                return {"type": "http.disconnect"}
            if body_done:  # after the body, receive only waits for a disconnect: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                log.info("http: request body not complete after %gs; answered 408", limits.timeout)
                return await refuse(408, "request_timeout", f"the body did not arrive within {limits.timeout:g}s")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return await refuse(
                        413, "payload_too_large", f"this request's body is limited to {human_size(limit)}"
                    )
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except ClientDisconnect:
            if not answered:
                log.debug("http: client went away during %s %s", scope["method"], scope["path"])
        except Exception:
            if not answered:
                raise
            # The route failed only because this wrapper cut its body short; it has been answered.

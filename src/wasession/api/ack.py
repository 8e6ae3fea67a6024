"""`POST /webhooks/whatsapp` served straight over ASGI, in front of the FastAPI app (issue 12).

A webhook is the one request that arrives thousands of times a second, and the profile showed the
framework (the middleware stack, routing, the Request and Response objects) costing more than the
signature check and the group commit together. This wrapper answers that one route itself and hands
every other request, unchanged, to the app behind it. It does here what the wrappers and the route
did for it, with the same answers: the body limit by Content-Length and while streaming (413,
`api/limits.py`), the body deadline (408), 401 without the signature header, the security headers
(`api/headers.py`), the webhook counters and the ack latency (`observability/metrics.py`). What it
lets into the log is decided in `ingest/gate.py` (400 unreadable, 403 forged, 422 too many or
malformed numbers).

A 200 (`{"status":"ok","id":N}`) means the raw body is committed to the webhook log; the apply queue
applies it right behind (docs/api.md: the apply lag). The same bytes again answer the stored id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from wasession.api.errors import error_body, send_error
from wasession.api.headers import SECURITY_HEADERS
from wasession.api.limits import WEBHOOK_ROUTE, BodyLimits, declared_length, human_size
from wasession.ingest.gate import Refused
from wasession.observability import activity, metrics
from wasession.runtime import Runtime
from wasession.whatsapp.signature import SIGNATURE_HEADER

log = logging.getLogger(__name__)
REFUSALS = activity.Throttled()  # a flood of forgeries is one line a second, not one per request

_SIGNATURE_KEY = SIGNATURE_HEADER.lower().encode()
_SECURITY = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
_JSON_HEADERS = [(b"content-type", b"application/json"), *SECURITY_HEADERS]


_Answer = Callable[[int, bytes], Awaitable[None]]
_Refuse = Callable[[int, str, str], Awaitable[None]]


class _Gone(Exception):
    """The client went away before its body was complete."""


class AckFront:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.ingestor = runtime.ingestor
        self.gate = runtime.ingestor.gate
        limits = BodyLimits.from_settings(runtime.settings)
        self.limit = limits.limit(*WEBHOOK_ROUTE)
        self.timeout = limits.timeout
        self._too_large = f"this request's body is limited to {human_size(self.limit)}"  # once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != WEBHOOK_ROUTE[1]:
            await self.app(scope, receive, send)
            return
        status = 500  # counted as such if nothing is answered (the client went away)

        async def answer(code: int, payload: bytes) -> None:
            nonlocal status
            status = code
            headers = [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS]
            await send({"type": "http.response.start", "status": code, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        async def refuse(code: int, error: str, message: str) -> None:
            nonlocal status
            status = code
            # Closes the connection, so the rest of an oversized or trickling body is never read.
            await send_error(send, code, error, message, headers=_SECURITY)

        try:
            await self._receive(scope, receive, answer, refuse)
        except _Gone:
            log.debug("http: client went away during POST %s", scope["path"])
        finally:
            metrics.webhook_answered(status)

    async def _receive(self, scope: Scope, receive: Receive, answer: _Answer, refuse: _Refuse) -> None:
        started = time.perf_counter()
        too_large = self._too_large
        declared = declared_length(scope)
        if declared is not None and declared > self.limit:
            await refuse(413, "payload_too_large", too_large)
            return
        try:
            body = await self._body(receive)
        except TimeoutError:
            log.info("http: request body not complete after %gs; answered 408", self.timeout)
            await refuse(408, "request_timeout", f"the body did not arrive within {self.timeout:g}s")
            return
        if body is None:
            await refuse(413, "payload_too_large", too_large)
            return
        header = _signature(scope)
        if not header:
            REFUSALS.info("webhook-401", f"webhook refused (401): no {SIGNATURE_HEADER} header")
            await answer(401, _error("signature_missing", f"the {SIGNATURE_HEADER} header is required"))
            return
        # Judged before the body queues for the writer, so forgeries never hold it up and nothing
        # the check refuses is ever logged (ingest/gate.py); applying judges every change again.
        decision = self.gate.quick(body, header)
        if decision is None:
            decision = await run_in_threadpool(self.gate.judge, body, header)
        if decision.accepted:
            queued = self.ingestor.submit_nowait(body, header, judged=decision.version)
            if queued is None:  # the writer is far behind: wait for room in a worker thread
                waited = await run_in_threadpool(partial(self.ingestor.submit, body, header, judged=decision.version))
                queued = asyncio.wrap_future(waited)
            try:
                result = await queued  # group commit: answered once committed
            except Refused as refused:  # judged on secrets rotated since: judged again, refused
                decision = refused.decision
        if not decision.accepted:
            REFUSALS.info(decision.code, f"webhook refused ({decision.status}): {decision.message}")
            await answer(decision.status, _error(decision.code, decision.message))
            return
        metrics.WEBHOOK_ACK_LATENCY.observe(time.perf_counter() - started)
        assert result.log_id is not None  # the writer answers every body with its row
        await answer(200, b'{"status":"ok","id":%d}' % result.log_id)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body, None past the limit; TimeoutError when it is not complete in time."""
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout_at(loop.time() + self.timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Gone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.limit:
                    return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _signature(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _SIGNATURE_KEY:
            return str(value.decode("latin-1"))
    return None


def _error(code: str, message: str) -> bytes:
    # As FastAPI's JSONResponse renders it, so the answers are byte for byte those of the route before.
    return json.dumps(error_body(code, message), ensure_ascii=False, separators=(",", ":")).encode()

"""`POST /webhooks/whatsapp` served straight over ASGI, in front of the FastAPI app (issue 12).

A webhook is the one request that arrives thousands of times a second, and the profile showed the
framework (the middleware stack, routing, the Request and Response objects) costing more than the
signature check and the group commit together. This wrapper answers that one route itself and hands
every other request, unchanged, to the app behind it. It does here what the wrappers and the route
did for it, with the same answers: the body limit by Content-Length and while streaming (413,
`api/limits.py`), the body deadline (408), 401 without the signature header, 403 when no addressed
channel's secret signs the body, the security headers (`api/headers.py`), the webhook counters and
the ack latency (`observability/metrics.py`).

A 200 (`{"status":"ok","id":N}`) means the raw body is committed to the webhook log; the apply queue
applies it right behind (docs/api.md: the apply lag). The same bytes again answer the stored id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from wasession.api.answers import send_error
from wasession.api.errors import error_body
from wasession.api.headers import SECURITY_HEADERS
from wasession.api.limits import WEBHOOK_ROUTE, BodyLimits, declared_length, human_size
from wasession.ingest import IngestResult
from wasession.ingest.credentials import Verdict
from wasession.observability import activity, metrics
from wasession.runtime import Runtime
from wasession.whatsapp.signature import SIGNATURE_HEADER

log = logging.getLogger(__name__)
REFUSALS = activity.Throttled()  # a flood of forgeries is one line a second, not one per request

SIGNATURE_INVALID = "the signature does not match the body under the app secret of any channel its changes address"
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
        self.credentials = runtime.ingestor.credentials
        limits = BodyLimits.from_settings(runtime.settings)
        self.limit = limits.limit(*WEBHOOK_ROUTE)
        self.timeout = limits.timeout

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
        too_large = f"this request's body is limited to {human_size(self.limit)}"
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
        # Checked before the body queues for the writer, so forgeries never hold it up; applying
        # judges every change again against the secrets stored at that moment. A secret cached for
        # a number the body names signs it: queued from the event loop (no thread hop, no parse),
        # unless the writer is far behind.
        queued: Future[IngestResult] | Refused | None = (
            self.ingestor.submit_nowait(body, header) if self.credentials.signed_by_cached(body, header) else None
        )
        if queued is None:
            queued = await run_in_threadpool(self._accept, body, header)
        if isinstance(queued, Refused):
            REFUSALS.info(queued.check, f"webhook refused (403): {queued.why}")
            await answer(403, _error("signature_invalid", SIGNATURE_INVALID))
            return
        result = await asyncio.wrap_future(queued)  # group commit: answered once committed
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

    def _accept(self, body: bytes, header: str) -> Future[IngestResult] | Refused:
        """The queued body, or which check refused it (for the log; never a secret)."""
        # In a worker thread: the full check parses the body and may read the addressed channels'
        # secrets, and `submit` waits while the writer is far behind (bounded memory).
        verdict = self.credentials.check(body, header)
        if not verdict.accepted:
            return refusal(verdict)
        return self.ingestor.submit(body, header)


@dataclass(frozen=True)
class Refused:
    check: str  # which check failed: signature | number | body
    why: str


def refusal(verdict: Verdict) -> Refused:
    """Which check a refused body failed, in words: what an operator needs to fix their setup."""
    if verdict.refused:
        numbers = ", ".join(sorted(verdict.refused))
        return Refused(
            "signature",
            f"the {SIGNATURE_HEADER} signature does not match the app secret stored for phone_number_id {numbers} "
            "(is the channel's app secret the one of the Meta app that sends these webhooks?)",
        )
    if verdict.unroutable:
        return Refused("number", f"no channel has phone_number_id {', '.join(sorted(verdict.unroutable))[:200]}")
    return Refused("body", "the body is not a WhatsApp webhook naming a phone_number_id")


def _signature(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _SIGNATURE_KEY:
            return str(value.decode("latin-1"))
    return None


def _error(code: str, message: str) -> bytes:
    # As FastAPI's JSONResponse renders it, so the answers are byte for byte those of the route before.
    return json.dumps(error_body(code, message), ensure_ascii=False, separators=(",", ":")).encode()

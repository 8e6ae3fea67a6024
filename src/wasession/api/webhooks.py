"""WhatsApp webhook endpoint: GET handshake, POST with the signature checked on the raw bytes.

Each change of a body counts only if the app secret of the channel it addresses signs the body
(`wasession.ingest.credentials`); a body with no such change is refused with 403, nothing stored.
A 200 means the raw body is committed to the webhook log; the apply queue applies it right behind
(docs/api.md: the apply lag)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.api.errors import error_body
from wasession.ingest import IngestResult
from wasession.observability import metrics
from wasession.runtime import Runtime
from wasession.whatsapp.signature import SIGNATURE_HEADER

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's documented maximum payload
SIGNATURE_INVALID = "the signature does not match the body under the app secret of any channel its changes address"


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["webhooks"])
    ingestor = runtime.ingestor
    credentials = ingestor.credentials

    def accept(body: bytes, header: str) -> Future[IngestResult] | None:
        # In a worker thread: the check parses the body and may read the addressed channels'
        # secrets, and `submit` waits while the writer is far behind (bounded memory).
        if not credentials.check(body, header).accepted:
            return None
        return ingestor.submit(body, header)

    @r.get("/webhooks/whatsapp", response_class=PlainTextResponse, summary="Meta's verification handshake")
    async def verify(request: Request) -> Response:
        params = dict(request.query_params)
        challenge = await run_in_threadpool(credentials.challenge, params)
        if challenge is None:
            return PlainTextResponse("Forbidden", status_code=403)
        return PlainTextResponse(challenge)

    @r.post("/webhooks/whatsapp", summary="Receive WhatsApp webhooks")
    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return JSONResponse(error_body("payload_too_large", "webhook bodies are limited to 3 MB"), 413)
        raw = bytearray()
        async for chunk in request.stream():
            raw.extend(chunk)
            if len(raw) > MAX_BODY_BYTES:
                return JSONResponse(error_body("payload_too_large", "webhook bodies are limited to 3 MB"), 413)
        body = bytes(raw)
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return JSONResponse(error_body("signature_missing", f"the {SIGNATURE_HEADER} header is required"), 401)
        # Checked before the body queues for the writer, so forgeries never hold it up. Applying
        # judges every change again against the secrets stored at that moment.
        # A secret cached for a number the body names signs it: queued from the event loop
        # (no thread hop, no parse), unless the writer is far behind.
        queued = ingestor.submit_nowait(body, header) if credentials.signed_by_cached(body, header) else None
        if queued is None:
            queued = await run_in_threadpool(accept, body, header)
        if queued is None:
            return JSONResponse(error_body("signature_invalid", SIGNATURE_INVALID), 403)
        result = await asyncio.wrap_future(queued)  # group commit: answered once committed
        metrics.WEBHOOK_ACK_LATENCY.observe(time.perf_counter() - started)
        return JSONResponse({"status": "ok", "id": result.log_id})

    return r

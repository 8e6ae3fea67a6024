"""WhatsApp webhook endpoint: GET handshake, POST with the signature checked on the raw bytes.

Each change of a body counts only if the app secret of the channel it addresses signs the body
(`wasession.ingest.credentials`); a body with no such change is refused with 403, nothing stored."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.api.errors import error_body
from wasession.ingest import SignatureRejected
from wasession.runtime import Runtime
from wasession.whatsapp.signature import SIGNATURE_HEADER

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's documented maximum payload
SIGNATURE_INVALID = "the signature does not match the body under the app secret of any channel its changes address"


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["webhooks"])
    credentials = runtime.ingestor.credentials

    @r.get("/webhooks/whatsapp", response_class=PlainTextResponse, summary="Meta's verification handshake")
    async def verify(request: Request) -> Response:
        params = dict(request.query_params)
        challenge = await run_in_threadpool(credentials.challenge, params)
        if challenge is None:
            return PlainTextResponse("Forbidden", status_code=403)
        return PlainTextResponse(challenge)

    @r.post("/webhooks/whatsapp", summary="Receive WhatsApp webhooks")
    async def receive(request: Request) -> Response:
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
        # Checked before the body queues for the one writer, so forgeries never hold it up; a
        # thread, since it parses the body and reads the addressed channels' secrets.
        verdict = await run_in_threadpool(credentials.check, body, header)
        if not verdict.accepted:
            return JSONResponse(error_body("signature_invalid", SIGNATURE_INVALID), 403)
        # Group commit: answered once the transaction holding this body has committed. The
        # signature is checked again there against the secrets stored at that moment.
        try:
            result = await asyncio.wrap_future(runtime.ingestor.submit(body, header))
        except SignatureRejected:
            return JSONResponse(error_body("signature_invalid", SIGNATURE_INVALID), 403)
        return JSONResponse({"status": "ok", "id": result.log_id})

    return r

"""WhatsApp webhook endpoint: the GET handshake. The POST is answered in front of the app, before
the framework runs (`wasession.api.ack`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime


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

    return r

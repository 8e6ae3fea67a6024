"""WhatsApp webhook endpoint: the GET handshake. The POST is answered in front of the app, before
the framework runs (`wasession.api.ack`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.observability import activity
from wasession.runtime_scope import RuntimeDep

REFUSALS = activity.Throttled()  # one line a second under a flood of wrong handshakes


router = APIRouter(tags=["webhooks"])


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse, summary="Meta's verification handshake")
async def verify(request: Request, runtime: RuntimeDep) -> Response:
    params = dict(request.query_params)
    challenge = await run_in_threadpool(runtime.ingestor.credentials.challenge, params)
    if challenge is None:
        REFUSALS.info("handshake-403", f"webhook verification refused (403): {_handshake_refusal(params)}")
        return PlainTextResponse("Forbidden", status_code=403)
    return PlainTextResponse(challenge)


def _handshake_refusal(params: dict[str, str]) -> str:
    """Which check of Meta's handshake failed, never the token given."""
    if params.get("hub.mode") != "subscribe":
        return f"hub.mode is {params.get('hub.mode', '')[:40]!r}, not 'subscribe'"
    if not params.get("hub.verify_token"):
        return "no hub.verify_token was given"
    if params.get("hub.challenge") is None:
        return "no hub.challenge was given"
    return "hub.verify_token matches no channel's verify token (compare it with the channel's, `channels list`)"

"""`POST /chatwoot/{connection_id}/webhook`: Chatwoot's account webhooks (issue 22), verified as Chatwoot
signs them before anything is read; services/chatwoot.py says what each one does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from wasession.api.errors import error_body
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import chatwoot

router = APIRouter(tags=["webhooks"])


@router.post(
    "/chatwoot/{connection_id}/webhook",
    summary="Chatwoot's account webhook (Settings → Integrations → Webhooks) for one connection",
)
async def chatwoot_webhook(connection_id: int, request: Request, runtime: RuntimeDep) -> JSONResponse:
    body = await request.body()
    try:
        done = await _run(runtime, connection_id, body, dict(request.headers))
    except chatwoot.WebhookRefused as exc:
        return JSONResponse(error_body("bad_signature", exc.message), status_code=401)
    except chatwoot.NotSentUpstream as exc:
        return JSONResponse(error_body("chatwoot_unavailable", exc.message), status_code=503)
    return JSONResponse(done)


async def _run(runtime: Runtime, connection_id: int, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    # The service writes to the database and may ask Chatwoot for a conversation's contact: off the loop.
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        chatwoot.handle_webhook, runtime.ctx, connection_id, body, headers, policy=runtime.relay.policy
    )

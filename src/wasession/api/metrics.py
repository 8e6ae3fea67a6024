"""`GET /metrics` in Prometheus text format, and the webhook counters (an ASGI wrapper, so the
webhook handler itself stays untouched)."""

from __future__ import annotations

import hmac
import logging
import threading
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wasession.api.errors import error_body
from wasession.observability import metrics
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep, per_runtime
from wasession.services import queries as query_service

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/webhooks/"
# The counts behind the gauges run at most this often, however often Prometheus (or several) scrape.
GAUGE_MAX_AGE = 5.0


class WebhookCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(WEBHOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            metrics.webhook_answered(status)


class _Gauges:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lock = threading.Lock()
        self.refreshed = float("-inf")
        # On a manual clock (the Simulator) time jumps between scrapes: always count afresh.
        self.max_age = GAUGE_MAX_AGE if runtime.clock.is_real else 0.0

    def refresh(self) -> None:
        with self.lock:
            if time.monotonic() - self.refreshed < self.max_age:
                return
            counts = query_service.gauge_counts(self.runtime.ctx)
            metrics.set_gauges(active=counts.active, eligible=counts.eligible, outbox=counts.outbox)
            self.refreshed = time.monotonic()


router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def scrape(request: Request, runtime: RuntimeDep) -> Response:
    token = runtime.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                error_body("unauthorized", "send the metrics token as `Authorization: Bearer <token>`"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    try:
        await run_in_threadpool(per_runtime(runtime, _Gauges, _Gauges).refresh)
    except Exception as exc:  # counters are still worth serving while the database is away
        log.warning("metrics: could not count sessions: %s", type(exc).__name__)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    app.add_middleware(WebhookCounter)
    app.include_router(router)

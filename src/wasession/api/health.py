"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime
from wasession.services import queries as query_service


def router(runtime: Runtime) -> APIRouter:
    r = APIRouter(tags=["operations"])

    @r.get("/healthz", summary="The process is up, and its clock")
    async def healthz() -> dict[str, str]:
        # `now` is the service's clock, which `serve --sandbox-speed` runs ahead of real time:
        # `wasession sandbox message` stamps the customer's message with it.
        return {"status": "ok", "now": runtime.clock.now().isoformat()}

    def _ready() -> tuple[bool, dict[str, object]]:
        checks: dict[str, object] = {}
        try:
            query_service.ping(runtime.ctx)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            return False, checks
        current = runtime.schema_current()
        checks["migrations"] = "current" if current else "pending: run `wasession migrate`"
        if not current:
            return False, checks
        backlog = runtime.ingestor.queue.backlog()
        checks["apply_backlog"] = (
            f"behind: {backlog.depth} webhook bodies wait to be applied, over the limit {backlog.limit}"
            if backlog.over
            else "ok"
        )
        checks["apply_backlog_depth"] = backlog.depth
        return not backlog.over, checks

    @r.get("/readyz", summary="Database reachable, migrations current, webhook apply backlog under its limit")
    async def readyz() -> JSONResponse:
        ok, checks = await run_in_threadpool(_ready)
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)

    return r

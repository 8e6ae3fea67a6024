"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import queries as query_service

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up, and its clock")
async def healthz(runtime: RuntimeDep) -> dict[str, str]:
    # `now` is the service's clock, which `serve --sandbox-speed` runs ahead of real time:
    # `wasession sandbox message` stamps the customer's message with it.
    return {"status": "ok", "now": runtime.clock.now().isoformat()}


def _ready(runtime: Runtime) -> tuple[bool, dict[str, object]]:
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


@router.get("/readyz", summary="Database reachable, migrations current, webhook apply backlog under its limit")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    ok, checks = await run_in_threadpool(_ready, runtime)
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)

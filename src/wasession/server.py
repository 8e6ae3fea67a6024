"""The ASGI application: webhooks, operations, and (mounted) the sandbox's fake Cloud API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

import wasession
from wasession.api import chatwoot_webhook, docs, errors, health, webhooks
from wasession.api import metrics as metrics_api
from wasession.api.ack import AckFront
from wasession.api.headers import SecurityHeaders
from wasession.api.ids import IdRange
from wasession.api.keygate import KeyGate
from wasession.api.limits import BodyLimit, BodyLimits
from wasession.runtime import Runtime

SANDBOX_GRAPH_PATH = "/sandbox/graph"


def create_app(
    runtime: Runtime,
    *,
    sandbox_graph: ASGIApp | None = None,
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> AckFront:
    """`on_start` runs once the server accepts connections (serve starts the engine there).

    The answer is the FastAPI app behind `AckFront` (its `app`), which answers POST /webhooks/whatsapp
    before the framework sees it: FastAPI wraps even its outermost added middleware in its own
    (error handling, body limits, telemetry), and those cost a webhook more than its ack does."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()

    app = FastAPI(
        lifespan=lifespan,
        title="wasession",
        version=wasession.__version__,
        description="WhatsApp Cloud API chat-session lifecycle: windows, reminders and closure.",
        docs_url=None,  # served by wasession.api.docs from local assets
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(webhooks.router(runtime))
    app.include_router(chatwoot_webhook.router(runtime))  # issue 22
    app.include_router(health.router(runtime))
    from wasession.api import v1  # issue 4: REST API

    v1.mount(app, runtime)
    metrics_api.install(app, runtime)
    from wasession import web  # issue 4: the dashboard

    web.install(app, runtime)
    if sandbox_graph is not None:
        app.mount(SANDBOX_GRAPH_PATH, sandbox_graph)
    docs.install(app)
    # Added last, so outermost: the key and the sizes are checked before any route reads the body.
    app.add_middleware(KeyGate, runtime=runtime)
    app.add_middleware(BodyLimit, limits=BodyLimits.from_settings(runtime.settings))
    app.add_middleware(IdRange)
    app.add_middleware(SecurityHeaders)
    # Outside the framework: POST /webhooks/whatsapp is answered before any of the above (api/ack.py
    # does their part for it); every other request, and the lifespan, pass through untouched.
    front = AckFront(app, runtime)
    app.state.front = front  # what a route posting a webhook to this server itself must call (web/sandbox.py)
    return front

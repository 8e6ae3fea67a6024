"""The ASGI application: webhooks, operations, and (mounted) the sandbox's fake Cloud API.

The routes live on one FastAPI app per process (`routes_app`, built on first use): FastAPI spends a
quarter of a second preparing ~285 routes, which every Simulator of a test run paid again when each
runtime had an app of its own (issue 24). `create_app` wraps that shared app for one runtime: it puts
the runtime in every request's scope (routes read it through `runtime_scope.RuntimeDep`) and owns what
is the runtime's alone: the lifespan, the sandbox's graph and `AckFront`."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

import wasession
from wasession.api import chatwoot_webhook, docs, errors, health, webhooks
from wasession.api import metrics as metrics_api
from wasession.api.ack import AckFront
from wasession.api.headers import SecurityHeaders
from wasession.api.ids import IdRange
from wasession.api.keygate import KeyGate
from wasession.api.limits import BodyLimit
from wasession.runtime import Runtime
from wasession.runtime_scope import SCOPE_FRONT, SCOPE_RUNTIME

SANDBOX_GRAPH_PATH = "/sandbox/graph"
# Where the runtime's layer leaves its sandbox graph (the fake Cloud API `serve --sandbox` mounts).
SCOPE_SANDBOX_GRAPH = "wasession.sandbox_graph"


class _SandboxGraph(Mount):
    """SANDBOX_GRAPH_PATH, routed only for a runtime that has a sandbox graph: for any other the path
    is unknown, exactly as if nothing were mounted there (no slash redirect either)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(SCOPE_SANDBOX_GRAPH) is None:
            return Match.NONE, {}
        return super().matches(scope)


async def _to_sandbox_graph(scope: Scope, receive: Receive, send: Send) -> None:
    graph = scope.get(SCOPE_SANDBOX_GRAPH)
    if graph is None:  # unreachable through _SandboxGraph.matches; answered as an unknown route
        raise HTTPException(status_code=404)
    await graph(scope, receive, send)


@functools.cache
def routes_app() -> FastAPI:
    """The one FastAPI app of this process, shared by every runtime (see the module's docstring)."""
    app = FastAPI(
        title="wasession",
        version=wasession.__version__,
        description="WhatsApp Cloud API chat-session lifecycle: windows, reminders and closure.",
        docs_url=None,  # served by wasession.api.docs from local assets
    )
    errors.install(app)
    app.include_router(webhooks.router)
    app.include_router(chatwoot_webhook.router)  # issue 22
    app.include_router(health.router)
    from wasession.api import v1  # issue 4: REST API

    v1.mount(app)
    metrics_api.install(app)
    from wasession import web  # issue 4: the dashboard

    web.install(app)
    app.router.routes.append(_SandboxGraph(SANDBOX_GRAPH_PATH, app=_to_sandbox_graph))
    docs.install(app)
    # Added last, so outermost: the key and the sizes are checked before any route reads the body. Each
    # reads what it needs of the runtime from the request's scope.
    app.add_middleware(KeyGate)
    app.add_middleware(BodyLimit)
    app.add_middleware(IdRange)
    app.add_middleware(SecurityHeaders)
    return app


class RuntimeLayer:
    """One runtime's entrance to the shared app: every request goes on with the runtime (and its
    sandbox graph and front) in its scope; the lifespan is answered here, as the runtime's own."""

    def __init__(
        self,
        app: ASGIApp,
        runtime: Runtime,
        *,
        sandbox_graph: ASGIApp | None = None,
        on_start: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.sandbox_graph = sandbox_graph
        self.on_start = on_start
        self.on_stop = on_stop
        self.front: ASGIApp = self  # the outermost wrapper, once create_app has built it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        scope = {
            **scope,
            SCOPE_RUNTIME: self.runtime,
            SCOPE_FRONT: self.front,
            SCOPE_SANDBOX_GRAPH: self.sandbox_graph,
        }
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """As Starlette's router answers a lifespan: a start or stop that raises is reported, then raised;
        `on_stop` runs after a good start only."""
        started = False
        await receive()  # lifespan.startup
        try:
            if self.on_start is not None:
                self.on_start()
            try:
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
            finally:
                if self.on_stop is not None:
                    self.on_stop()
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def create_app(
    runtime: Runtime,
    *,
    sandbox_graph: ASGIApp | None = None,
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> AckFront:
    """`on_start` runs once the server accepts connections (serve starts the engine there).

    The answer is the runtime's layer over the shared app behind `AckFront` (its `app`), which answers
    POST /webhooks/whatsapp before the framework sees it: FastAPI wraps even its outermost added
    middleware in its own (error handling, body limits, telemetry), and those cost a webhook more than
    its ack does."""
    layer = RuntimeLayer(routes_app(), runtime, sandbox_graph=sandbox_graph, on_start=on_start, on_stop=on_stop)
    # Outside the framework: POST /webhooks/whatsapp is answered before any of the above (api/ack.py
    # does their part for it); every other request, and the lifespan, pass through untouched.
    front = AckFront(layer, runtime)
    layer.front = front  # what a route posting a webhook to this server itself calls (web/sandbox.py)
    return front

"""The API key is checked before the request's body is read: without a valid key, `/api/v1` answers
401 at once and a large body costs the server nothing."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from wasession.api.errors import send_error
from wasession.runtime_scope import scope_runtime
from wasession.services import apikeys as key_service

API_PREFIX = "/api/v1"
# Where the gate leaves the workspace it found, so the route's dependency does not look the key up again.
SCOPE_WORKSPACE = "wasession.workspace_id"
# Who a request acts as, for what it writes down (a private note's author, issue 23): "API key <name>".
SCOPE_ACTOR = "wasession.actor"


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class KeyGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            await send_error(
                send,
                401,
                "unauthorized",
                "send an API key as `Authorization: Bearer wsk_…`",
                headers={"WWW-Authenticate": "Bearer"},
            )
            return
        key = await run_in_threadpool(key_service.authenticate, scope_runtime(scope).ctx, token)
        if key is None:
            await send_error(
                send, 401, "unauthorized", "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
            return
        scope[SCOPE_WORKSPACE] = key.workspace_id
        scope[SCOPE_ACTOR] = actor(key.name)
        await self.app(scope, receive, send)


def actor(key_name: str) -> str:
    return f"API key {key_name}"

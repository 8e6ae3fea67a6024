"""Bearer API keys: each request acts for the key's workspace and sees nothing of any other."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wasession.api.errors import error_body
from wasession.api.keygate import SCOPE_ACTOR, SCOPE_WORKSPACE, actor
from wasession.runtime_scope import RuntimeDep
from wasession.services import apikeys as key_service

_bearer = HTTPBearer(auto_error=False, description="An API key (`wsk_…`) from `wasession apikeys create`.")


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def install(app: FastAPI) -> None:
    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(
            error_body("unauthorized", exc.message), status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )


def workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    runtime: RuntimeDep,
) -> int:
    """A dependency answering the workspace id of the request's API key, or 401."""
    checked = request.scope.get(SCOPE_WORKSPACE)
    if isinstance(checked, int):  # the key gate already authenticated this request's key
        return checked
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as `Authorization: Bearer wsk_…`")
    key = key_service.authenticate(runtime.ctx, credentials.credentials)
    if key is None:
        raise Unauthorized("the API key is unknown or revoked")
    request.scope[SCOPE_ACTOR] = actor(key.name)
    return key.workspace_id


def request_actor(request: Request) -> str:
    """Who the request acts as ("API key <name>"); read after the workspace dependency has run."""
    found = request.scope.get(SCOPE_ACTOR)
    return found if isinstance(found, str) else "API key"

"""One JSON error shape for every error a user can cause: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Send

from wasession.domain.errors import ValidationError, ValidationErrors
from wasession.services.errors import ConflictError, DataError, NotFoundError, UpstreamError, WindowClosedError


def error_body(code: str, message: str, field: str | None = None, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


# Starlette's own errors (unknown route, wrong method, a body that would not parse) by status.
_HTTP_CODES = {
    400: "invalid_body",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
_HTTP_MESSAGES = {
    400: "the request body could not be parsed (malformed or too deeply nested)",
    404: "no such route",
}


def install(app: FastAPI) -> None:
    # A number from the request (an id inside a cursor, say) the database cannot hold: SQLite raises
    # OverflowError, PostgreSQL "out of range". The request was wrong, not the server.
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("invalid_request", "a number in the request is out of range (ids are 64-bit)"), status_code=422
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        generic = detail in (None, "Not Found", "Method Not Allowed", "There was an error parsing the body")
        message = _HTTP_MESSAGES.get(exc.status_code, detail or "") if generic else str(detail)
        if exc.status_code == 404 and generic:
            message = f"no such route: {request.method} {request.url.path}"
        if exc.status_code == 405 and generic:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
        return JSONResponse(
            error_body(code, message or f"HTTP {exc.status_code}"), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        if isinstance(exc, ValidationErrors):  # every bad field at once, each in the one shape
            every = [{"code": e.code, "message": e.message, "field": e.field} for e in exc.errors]
            return JSONResponse(error_body(exc.code, exc.message, exc.field, errors=every), status_code=422)
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=422)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=404)

    @app.exception_handler(UpstreamError)
    async def _upstream(_: Request, exc: UpstreamError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=502)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        extra: dict[str, object] = {}
        if isinstance(exc, WindowClosedError):
            extra["closed_at"] = exc.closed_at.isoformat()
        return JSONResponse(error_body(exc.code, exc.message, exc.field, **extra), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        code, message, field = request_error(first)
        return JSONResponse(error_body(code, message, field), status_code=422)


def request_error(error: Mapping[str, Any]) -> tuple[str, str, str]:
    """(code, message, field) for FastAPI's first complaint about a request: always naming a field,
    `body` when the body as a whole is missing, not JSON or not an object."""
    where = [str(p) for p in error.get("loc", ())]
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return "invalid_body", "the request body is not valid JSON", "body"
    loc = [p for p in where if p not in ("body", "query", "path", "header")]
    if not loc:
        if kind == "missing":
            return "invalid_body", "the request body is required: a JSON object", "body"
        return "invalid_body", "the request body must be a JSON object", "body"
    field = ".".join(loc)
    if kind == "missing":
        return "invalid_request", f"{field} is required", field
    return "invalid_request", f"{field}: {error.get('msg', 'invalid')}", field


# Error answers sent straight over ASGI, by the wrappers that refuse a request before any route runs.
async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    close: bool = True,
) -> None:
    """The one error shape; `close` asks the server to drop the connection, so a body the client is
    still sending is never read."""
    payload = json.dumps(error_body(code, message, field)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        raw.append((b"connection", b"close"))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})

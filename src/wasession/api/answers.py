"""Error answers sent straight over ASGI, by the wrappers that refuse a request before any route runs."""

from __future__ import annotations

import json

from starlette.types import Send

from wasession.api.errors import error_body


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

"""Numbers beyond a 64-bit id, in a path or a query, refused before they reach SQL (where SQLite raises
OverflowError and PostgreSQL "integer out of range", both answered 500 before)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from wasession.api.errors import send_error

MAX_ID = 2**63 - 1
_NUMBER = re.compile(r"[+-]?\d+")
# Meta's handshake echoes `hub.challenge`, a number of its choosing: not an id.
EXEMPT_PREFIXES = ("/webhooks/",)


def _too_big(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value)) and abs(int(value)) > MAX_ID


class IdRange:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(EXEMPT_PREFIXES):
            if any(_too_big(part) for part in scope["path"].split("/")):
                await send_error(send, 404, "not_found", "no object has that id", close=False)
                return
            query = scope.get("query_string", b"").decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True):
                if _too_big(value):
                    await send_error(
                        send, 422, "invalid_request", f"{name}: must be at most {MAX_ID}", name, close=False
                    )
                    return
        await self.app(scope, receive, send)

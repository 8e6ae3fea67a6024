"""The dashboard: server-rendered pages (Jinja2 and a little plain JavaScript) at /dashboard."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from wasession.services.errors import NotFoundError

STATIC = Path(__file__).parent / "static"
STATIC_FILES = frozenset({"app.js", "style.css", "forms.js", "policy_v2.js", "receipts.js"})


def install(app: FastAPI) -> None:
    from wasession.web import (
        auth,
        chats,
        chatwoot,
        forwards,
        live,
        preferences,
        receipts,
        sandbox,
        settings,
        snooze,
        team,
        usage,
    )

    auth.install_handlers(app)
    modules = (auth, chats, live, preferences, settings, sandbox, usage, forwards, snooze, receipts, chatwoot, team)
    for module in modules:
        app.include_router(module.router)

    @app.get("/dashboard/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC_FILES:
            return Response(status_code=404)
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    # The API answers a missing object in JSON; a dashboard page answers it with a page.
    api_not_found = app.exception_handlers.get(NotFoundError)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/dashboard") or api_not_found is None:
            return HTMLResponse(
                f"<!doctype html><title>Not found</title><h1>Not found</h1><p>{html.escape(str(exc))}</p>"
                '<p><a href="/dashboard/chats">Back to active chats</a></p>',
                status_code=404,
            )
        answer = api_not_found(request, exc)
        return answer if isinstance(answer, Response) else await answer

    app.add_exception_handler(NotFoundError, not_found)

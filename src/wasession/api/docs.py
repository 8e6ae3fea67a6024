"""`/docs`: Swagger UI from the assets of the swagger-ui-bundle package, so it works offline and loads
nothing from a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = Path(swagger_ui_path)
ASSET_PREFIX = "/docs/assets"
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


def install(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSET_PREFIX}/favicon-32x32.png",
        )

    @app.get(ASSET_PREFIX + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in SERVED:
            return Response(status_code=404)
        return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})

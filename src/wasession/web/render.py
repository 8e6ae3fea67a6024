"""Jinja2 rendering for the dashboard: every page gets the server's now, the user, the CSRF token and
the workspace's channels (for the navigation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from wasession.runtime import Runtime
from wasession.services import channels as channel_service
from wasession.services.channels import Channel
from wasession.services.users import LoginSession

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%a %d %b %H:%M:%S UTC") if value else "—"


def _short(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%a %d %b %H:%M") if value else "—"


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def _span(value: timedelta) -> str:
    """A static rendering of a countdown, for browsers without JavaScript (the script keeps it live)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["short"] = _short
TEMPLATES.env.filters["iso"] = _iso
TEMPLATES.env.filters["span"] = _span


def workspace_channels(runtime: Runtime, workspace_id: int) -> list[Channel]:
    return channel_service.list_channels(runtime.ctx, workspace_id=workspace_id)


def page(
    runtime: Runtime, request: Request, name: str, login: LoginSession | None, status_code: int = 200, **values: Any
) -> HTMLResponse:
    context: dict[str, Any] = {
        "now": runtime.clock.now(),
        "login": login,
        "csrf_token": login.csrf_token if login else values.pop("csrf_token", ""),
        "channels": workspace_channels(runtime, login.workspace_id) if login else [],
        **values,
    }
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)

"""Jinja2 rendering for the dashboard: every page gets the server's now, the user, the CSRF token and
the workspace's channels (for the navigation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from wasession.domain.rates import format_amount
from wasession.runtime import Runtime
from wasession.services import channels as channel_service
from wasession.services.channels import Channel
from wasession.services.users import LoginSession
from wasession.web import zones

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _zone(context: Context, zone: tzinfo | None) -> tzinfo:
    """The zone asked for, else the page's `tz` (a session page sets its channel's), else UTC."""
    return zone or context.get("tz") or UTC


def formatted(value: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """A time in `zone` with the zone named: "Mon 05 Jan 18:00 WET"."""
    shape = "%a %d %b %H:%M:%S" if seconds else "%a %d %b %H:%M"
    return f"{value.astimezone(zone).strftime(shape)} {zones.label(value, zone)}"


@pass_context
def _when(context: Context, value: datetime | None, zone: tzinfo | None = None) -> str:
    return formatted(value, _zone(context, zone), seconds=True) if value else "—"


@pass_context
def _short(context: Context, value: datetime | None, zone: tzinfo | None = None) -> str:
    return formatted(value, _zone(context, zone)) if value else "—"


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
TEMPLATES.env.filters["money"] = format_amount


def workspace_channels(runtime: Runtime, workspace_id: int) -> list[Channel]:
    return channel_service.list_channels(runtime.ctx, workspace_id=workspace_id)


def page(
    runtime: Runtime, request: Request, name: str, login: LoginSession | None, status_code: int = 200, **values: Any
) -> HTMLResponse:
    channels = workspace_channels(runtime, login.workspace_id) if login else []
    chosen = zones.chosen_zone(request.cookies.get(zones.COOKIE))
    zone = zones.resolver(channels, chosen)
    context: dict[str, Any] = {
        "now": runtime.clock.now(),
        "login": login,
        "csrf_token": login.csrf_token if login else values.pop("csrf_token", ""),
        "channels": channels,
        "zone": zone,  # channel id -> the zone its times are shown in
        "zone_choice": getattr(chosen, "key", zones.CHANNEL),
        # The zone of times not tied to a row: a session page's channel's, else the chosen one or UTC.
        "tz": zone(values.get("session_channel")),
        **values,
    }
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def zone_in(runtime: Runtime, request: Request, login: LoginSession, channel_id: int) -> tzinfo:
    """The zone a page shows `channel_id`'s times in: the agent's choice, else the channel's."""
    chosen = zones.chosen_zone(request.cookies.get(zones.COOKIE))
    return zones.resolver(workspace_channels(runtime, login.workspace_id), chosen)(channel_id)


def short_in(runtime: Runtime, request: Request, login: LoginSession, value: datetime, channel_id: int) -> str:
    """A time as a page would show it for `channel_id`, for messages composed outside a template."""
    return formatted(value, zone_in(runtime, request, login, channel_id))

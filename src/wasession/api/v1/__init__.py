"""The REST API under /api/v1: every route is authenticated by an API key and scoped to its workspace."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from wasession.api.v1 import (
    apikeys,
    auth,
    canned_replies,
    channels,
    chatwoot,
    contacts,
    event_webhooks,
    forwards,
    messages,
    policy_preview,
    rates,
    sessions,
    team,
    templates,
    unrouted,
    usage,
)

PREFIX = "/api/v1"


def mount(app: FastAPI) -> None:
    auth.install(app)
    api = APIRouter(prefix=PREFIX)
    for module in (
        apikeys,
        channels,
        policy_preview,
        sessions,
        contacts,
        event_webhooks,
        messages,
        templates,
        forwards,
        usage,
        rates,
        unrouted,
        chatwoot,
        team,
        canned_replies,
    ):
        api.include_router(module.router)
    app.include_router(api)

"""Approved templates from Meta: fetched from the channel's WhatsApp Business Account, cached per
channel, offered by the session page's picker, and rendered into the transcript when sent.

One path for every face: the dashboard, the API and the Simulator call `refresh`, `catalog` and
`send`; `send` ends in `agents.send_template`, like a template typed by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from wasession.domain.errors import ValidationErrors
from wasession.lifecycle.context import ServiceContext
from wasession.services import agents
from wasession.services.channels import get_channel
from wasession.services.errors import UpstreamError, ValidationError
from wasession.store import channels as channel_store
from wasession.store import templates as template_store
from wasession.store.channels import Channel
from wasession.store.templates import CachedTemplate
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.errors import CloudApiError
from wasession.whatsapp.reasons import in_words
from wasession.whatsapp.templates import Template, render

WABA_ID = re.compile(r"[0-9]{1,32}")


@dataclass(frozen=True)
class Offered:
    name: str
    language: str
    category: str
    body: str
    parameters: list[str]  # placeholder names, in order


@dataclass(frozen=True)
class Catalog:
    waba_id: str | None
    fetched_at: datetime | None
    error: str | None  # why the last refresh failed, in words
    templates: list[Offered]


def set_account(ctx: ServiceContext, channel_id: int, waba_id: str, *, workspace_id: int | None = None) -> None:
    """The channel's WhatsApp Business Account id, a channel setting an administrator sets once
    (dashboard settings, API refresh): the template picker reads it and asks no agent for it."""
    get_channel(ctx, channel_id, workspace_id=workspace_id)
    waba_id = waba_id.strip()
    if not WABA_ID.fullmatch(waba_id):
        raise ValidationError(
            "waba_id", f"waba_id must be the WhatsApp Business Account id, 1 to 32 digits; got {waba_id[:40]!r}"
        )
    with ctx.db.write() as conn:
        template_store.set_source(conn, channel_id, waba_id)


def refresh(
    ctx: ServiceContext,
    client_for: Callable[[Channel], CloudClient],
    channel_id: int,
    *,
    waba_id: str | None = None,
    workspace_id: int | None = None,
) -> Catalog:
    """Fetch the account's approved templates into the cache; `waba_id` sets (or changes) the account."""
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    if waba_id is not None:
        set_account(ctx, channel_id, waba_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        source = template_store.source(conn, channel_id)
        secrets = channel_store.secrets_of(conn, ctx.box, channel_id)
    if source is None:
        raise ValidationError(
            "waba_id",
            "the channel has no WhatsApp Business Account id yet: an administrator sets it in the channel's settings",
            "required",
        )
    try:
        fetched = client_for(channel).message_templates(source.waba_id, secrets.access_token)
    except CloudApiError as exc:
        reason = in_words(exc.code, type(exc).__name__, str(exc))
        with ctx.db.write() as conn:
            template_store.record_fetch(conn, channel_id, ctx.clock.now(), reason)
        raise UpstreamError(f"could not fetch the templates from Meta: {reason}") from exc
    with ctx.db.write() as conn:
        template_store.replace_all(conn, channel_id, [_cached(t) for t in _unique(fetched)])
        template_store.record_fetch(conn, channel_id, ctx.clock.now(), None)
    return catalog(ctx, channel_id, workspace_id=workspace_id)


def catalog(ctx: ServiceContext, channel_id: int, *, workspace_id: int | None = None) -> Catalog:
    get_channel(ctx, channel_id, workspace_id=workspace_id)
    with ctx.db.read() as conn:
        source = template_store.source(conn, channel_id)
        cached = template_store.for_channel(conn, channel_id)
    return Catalog(
        waba_id=source.waba_id if source else None,
        fetched_at=source.fetched_at if source else None,
        error=source.error if source else None,
        templates=[_offered(t) for t in cached],
    )


def send(
    ctx: ServiceContext,
    session_id: int,
    name: str,
    language: str,
    parameters: Sequence[str] | Mapping[str, str] = (),
    *,
    workspace_id: int | None = None,
) -> int:
    """Queue a template; when it is one of the channel's cached templates, its parameters are checked
    against the template's placeholders (every missing one named) and the transcript gets the text."""
    with ctx.db.read() as conn:
        # Another workspace's session is not found before anything about the template is said: a 422
        # naming a parameter told another tenant its template names and parameter counts (issue 25).
        session = agents.agent_session(conn, session_id, workspace_id)[0]
        cached = template_store.one(conn, session.channel_id, name, language)
    rendered = None
    if cached is not None:
        offered = _offered(cached)
        named = offered.parameters and not all(p.isdigit() for p in offered.parameters)
        if named and not isinstance(parameters, Mapping):  # the picker's fields, in placeholder order
            parameters = dict(zip(offered.parameters, parameters, strict=False))
        given = (
            parameters if isinstance(parameters, Mapping) else dict(zip(offered.parameters, parameters, strict=False))
        )
        missing = [
            ValidationError(f"parameters.{p}", f"parameter {{{{{p}}}}} of {name} needs a value", "required")
            for p in offered.parameters
            if not str(given.get(p, "")).strip()
        ]
        if len(given) > len(offered.parameters) or len(parameters) > len(offered.parameters):
            count = len(offered.parameters)
            missing.append(
                ValidationError("parameters", f"{name} ({language}) takes {count} parameters; got {len(parameters)}")
            )
        if missing:
            raise ValidationErrors(missing)
        rendered = render(cached.body, parameters)
    return agents.send_template(
        ctx, session_id, name, language, parameters, workspace_id=workspace_id, rendered=rendered
    )


def _unique(templates: Sequence[Template]) -> list[Template]:
    seen: dict[tuple[str, str], Template] = {}
    for t in templates:
        seen.setdefault((t.name, t.language), t)
    return list(seen.values())


def _cached(t: Template) -> CachedTemplate:
    return CachedTemplate(name=t.name[:512], language=t.language[:16], category=t.category[:32], body=t.body)


def _offered(t: CachedTemplate) -> Offered:
    return Offered(t.name, t.language, t.category, t.body, Template(t.name, t.language, t.category, t.body).parameters)

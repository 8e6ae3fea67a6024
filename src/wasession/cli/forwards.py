"""`wasession forwards`: the webhook relay's forward targets of a channel (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from wasession.cli.shared import channel_ref, runtime_for, user_errors
from wasession.domain.relay import FIELDS

CHANNEL = click.argument("channel_id", metavar="CHANNEL")
FORWARD = click.argument("forward_id", type=click.IntRange(min=1), metavar="FORWARD")


def _target_line(t: Any) -> str:
    state = "paused" if t.paused else "active"
    signing = "own secret" if t.resigned else "Meta's signature"
    retry = f", retry at {t.next_attempt_at.isoformat()}" if t.next_attempt_at and t.attempts else ""
    return f"{t.id:>4}  {state:<6}  {t.url}  [{','.join(t.fields)}]  {signing}  after log id {t.cursor}{retry}"


def _with_service(ctx: click.Context, action: Callable[[Any, Any, int, int], Any]) -> Any:
    """Run `action(services.forwards, runtime, workspace_id, channel_id)` for the channel named on the
    command line (by id, name or phone_number_id, as every command takes it)."""
    from wasession.services import forwards as forward_service

    with runtime_for(ctx) as runtime:
        channel = channel_ref(runtime, ctx.params["channel_id"])
        with user_errors():
            return action(forward_service, runtime, channel.workspace_id, channel.id)


@click.group()
def forwards() -> None:
    """Pass every webhook a channel accepts on to other URLs (Chatwoot, a CRM), as received.

    CHANNEL is a channel's id, its name or its phone_number_id."""


@forwards.command("add")
@CHANNEL
@click.argument("url")
@click.option(
    "--secret",
    envvar="WASESSION_FORWARD_SECRET",
    default=None,
    help="Sign the bodies with this secret of the target's own (16-256 characters; better passed in "
    "WASESSION_FORWARD_SECRET). Without it, Meta's X-Hub-Signature-256 is passed on.",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    type=click.Choice(FIELDS),
    help="Only these kinds of change (repeat the option); default: all.",
)
@click.option("--description", default="", help="A note for people: what this target is.")
@click.pass_context
def forwards_add(
    ctx: click.Context, channel_id: str, url: str, secret: str | None, fields: tuple[str, ...], description: str
) -> None:
    """Add a target: it is given every webhook of CHANNEL accepted from now on."""
    from wasession.outbound.addresses import AddressPolicy

    def add(service: Any, runtime: Any, ws: int, channel_id: int) -> Any:
        return service.create_forward(
            runtime.ctx,
            channel_id,
            workspace_id=ws,
            url=url,
            secret=secret,
            fields=list(fields) or None,
            description=description,
            policy=AddressPolicy.parse(runtime.settings.outbound_allow),
            max_per_workspace=runtime.settings.max_forwards_per_workspace,
        )

    created = _with_service(ctx, add)
    click.echo(f"forward {created.id} added to channel {channel_id}: {created.url}")


@forwards.command("list")
@CHANNEL
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.pass_context
def forwards_list(ctx: click.Context, channel_id: str, as_json: bool) -> None:
    """The targets of CHANNEL: state, URL, kinds of change, signing, and how far each has got."""
    targets = _with_service(ctx, lambda s, r, ws, channel_id: s.list_forwards(r.ctx, channel_id, workspace_id=ws))
    if as_json:
        items = [
            {
                "id": t.id,
                "url": t.url,
                "fields": list(t.fields),
                "paused": t.paused,
                "own_secret": t.resigned,
                "cursor": t.cursor,
                "attempts": t.attempts,
                "next_attempt_at": t.next_attempt_at.isoformat() if t.next_attempt_at else None,
            }
            for t in targets
        ]
        click.echo(json.dumps(items, indent=2))
        return
    if not targets:
        click.echo(f"channel {channel_id} forwards nothing")
    for t in targets:
        click.echo(_target_line(t))


def _set_paused(ctx: click.Context, channel_id: str, forward_id: int, paused: bool) -> None:
    changed = _with_service(
        ctx, lambda s, r, ws, channel_id: s.set_paused(r.ctx, channel_id, forward_id, workspace_id=ws, paused=paused)
    )
    click.echo(_target_line(changed))


@forwards.command("pause")
@CHANNEL
@FORWARD
@click.pass_context
def forwards_pause(ctx: click.Context, channel_id: str, forward_id: int) -> None:
    """Stop delivering to FORWARD; what arrives meanwhile waits for `resume` (up to 7 days)."""
    _set_paused(ctx, channel_id, forward_id, True)


@forwards.command("resume")
@CHANNEL
@FORWARD
@click.pass_context
def forwards_resume(ctx: click.Context, channel_id: str, forward_id: int) -> None:
    """Deliver to FORWARD again, starting with what arrived while it was paused."""
    _set_paused(ctx, channel_id, forward_id, False)


@forwards.command("replay")
@CHANNEL
@FORWARD
@click.option("--from-id", "from_log_id", type=click.IntRange(min=1), default=None, help="From this webhook log id.")
@click.option("--since", default=None, help="Every body received at or after this ISO 8601 instant.")
@click.pass_context
def forwards_replay(
    ctx: click.Context, channel_id: str, forward_id: int, from_log_id: int | None, since: str | None
) -> None:
    """Deliver the stored bodies to FORWARD again, in order (`webhooks` lists their ids)."""
    from wasession.domain.clock import parse_instant

    if (from_log_id is None) == (since is None):
        raise click.UsageError("give exactly one of --from-id and --since")
    try:
        since_at = parse_instant(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    moved = _with_service(
        ctx,
        lambda s, r, ws, channel_id: s.replay(
            r.ctx, channel_id, forward_id, workspace_id=ws, from_log_id=from_log_id, since=since_at
        ),
    )
    click.echo(f"forward {forward_id} delivers again every body after log id {moved.cursor}")


@forwards.command("deliveries")
@CHANNEL
@FORWARD
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200), help="Show this many.")
@click.pass_context
def forwards_deliveries(ctx: click.Context, channel_id: str, forward_id: int, limit: int) -> None:
    """The latest delivery attempts to FORWARD, newest first."""
    page, _ = _with_service(
        ctx, lambda s, r, ws, channel_id: s.deliveries(r.ctx, channel_id, forward_id, workspace_id=ws, limit=limit)
    )
    if not page:
        click.echo("no deliveries yet")
    for a in page:
        answer = a.status_code if a.status_code is not None else a.error
        click.echo(
            f"{a.at.isoformat()}  log id {a.log_id}  attempt {a.attempt}  {a.outcome}  {answer}  {a.duration_ms} ms"
        )


@forwards.command("remove")
@CHANNEL
@FORWARD
@click.pass_context
def forwards_remove(ctx: click.Context, channel_id: str, forward_id: int) -> None:
    """Remove FORWARD and its delivery log."""
    _with_service(ctx, lambda s, r, ws, channel_id: s.delete_forward(r.ctx, channel_id, forward_id, workspace_id=ws))
    click.echo(f"forward {forward_id} removed")

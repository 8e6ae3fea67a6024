"""`wasession chatwoot`: connect a channel to Chatwoot (issue 22), list, show, pause, resume, remove."""

from __future__ import annotations

from typing import Any

import click

from wasession.cli.shared import channel_ref, runtime_for, user_errors

CONNECTION = click.argument("connection_id", type=click.IntRange(min=1), metavar="CONNECTION")


def _line(c: Any) -> str:
    state = "paused" if c.paused else "active"
    signing = "signed" if c.signed else "UNSIGNED"
    error = f"  last error: {c.last_error}" if c.last_error else ""
    return (
        f"{c.id:>4}  channel {c.channel_id}  {state:<6}  {c.url} account {c.account_id} inbox {c.inbox_id}"
        f"  send via {c.send_via}  {signing}{error}"
    )


@click.group()
def chatwoot() -> None:
    """Make wasession the lifecycle engine of a Chatwoot WhatsApp inbox (docs/chatwoot.md)."""


@chatwoot.command("connect")
@click.argument("channel")
@click.option("--url", required=True, help="Chatwoot's base URL, e.g. https://chat.example.com.")
@click.option("--account-id", required=True, type=click.IntRange(min=1), help="The Chatwoot account's id.")
@click.option("--inbox-id", required=True, type=click.IntRange(min=1), help="Its WhatsApp inbox's id.")
@click.option(
    "--api-token",
    required=True,
    envvar="WASESSION_CHATWOOT_API_TOKEN",
    help="An agent's access token (Profile settings); better passed in WASESSION_CHATWOOT_API_TOKEN.",
)
@click.option(
    "--webhook-secret",
    default=None,
    envvar="WASESSION_CHATWOOT_WEBHOOK_SECRET",
    help="The secret Chatwoot shows for the webhook (4.11.2+); without it unsigned webhooks are accepted.",
)
@click.option(
    "--send-via",
    type=click.Choice(["chatwoot", "direct"]),
    default="chatwoot",
    show_default=True,
    help="chatwoot: reminders and closing messages are created in the conversation and Chatwoot sends them; "
    "direct: wasession sends them to WhatsApp and adds a private note.",
)
@click.option("--public-url", default="", help="This server's public base URL, to print the full webhook URL.")
@click.pass_context
def chatwoot_connect(
    ctx: click.Context,
    channel: str,
    url: str,
    account_id: int,
    inbox_id: int,
    api_token: str,
    webhook_secret: str | None,
    send_via: str,
    public_url: str,
) -> None:
    """Connect CHANNEL (id or name) to a Chatwoot account and inbox, after checking them with Chatwoot."""
    from wasession.outbound.addresses import AddressPolicy
    from wasession.services import chatwoot

    with runtime_for(ctx) as runtime, user_errors():
        found = channel_ref(runtime, channel)
        done = chatwoot.connect(
            runtime.ctx,
            found.id,
            workspace_id=found.workspace_id,
            url=url,
            account_id=account_id,
            inbox_id=inbox_id,
            api_token=api_token,
            webhook_secret=webhook_secret,
            send_via=send_via,
            policy=AddressPolicy.parse(runtime.settings.outbound_allow),
        )
    c = done.connection
    click.echo(
        f"chatwoot connection {c.id}: channel {c.channel_id} ↔ {c.url} account {c.account_id} inbox {c.inbox_id}"
    )
    click.echo(f"1. In Chatwoot, Settings → Integrations → Webhooks, add: {public_url.rstrip('/')}{done.webhook_path}")
    click.echo(
        "   with the events conversation_created, conversation_status_changed, conversation_updated, message_created,"
        " message_updated"
    )
    click.echo(f"2. Pass Meta's webhooks on to Chatwoot: wasession forwards add {c.channel_id} {done.relay_target}")
    if not c.signed:
        click.echo("warning: no --webhook-secret: Chatwoot's webhooks will be accepted unsigned", err=True)


def _service(ctx: click.Context, action: Any) -> Any:
    from wasession.services import chatwoot

    with runtime_for(ctx) as runtime, user_errors():
        return action(chatwoot, runtime)


@chatwoot.command("list")
@click.pass_context
def chatwoot_list(ctx: click.Context) -> None:
    """Every Chatwoot connection: channel, state, Chatwoot account and inbox, how it sends."""
    found = _service(ctx, lambda s, r: s.list_connections(r.ctx, workspace_id=None))
    if not found:
        click.echo("no Chatwoot connections")
    for c in found:
        click.echo(_line(c))


@chatwoot.command("show")
@CONNECTION
@click.pass_context
def chatwoot_show(ctx: click.Context, connection_id: int) -> None:
    """One connection, its webhook path and relay target, and its calls to Chatwoot."""

    def show(s: Any, r: Any) -> tuple[Any, Any, str]:
        c = s.get_connection(r.ctx, connection_id, workspace_id=None)
        return c, s.connection_status(r.ctx, connection_id, workspace_id=None), s.relay_target_of(c)

    c, (counts, calls), relay = _service(ctx, show)
    click.echo(_line(c))
    click.echo(f"webhook path: /chatwoot/{c.id}/webhook   relay target: {relay}")
    click.echo("calls: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    for call in calls:
        error = f"  ({call.last_error})" if call.last_error else ""
        click.echo(f"  {call.id:>6}  {call.kind:<10}  session {call.session_id}  {call.state}{error}")


def _set_paused(ctx: click.Context, connection_id: int, paused: bool) -> None:
    c = _service(ctx, lambda s, r: s.set_paused(r.ctx, connection_id, workspace_id=None, paused=paused))
    click.echo(f"chatwoot connection {c.id} {'paused' if paused else 'resumed'}")


@chatwoot.command("pause")
@CONNECTION
@click.pass_context
def chatwoot_pause(ctx: click.Context, connection_id: int) -> None:
    """Stop syncing either way; resuming takes up what happened meanwhile."""
    _set_paused(ctx, connection_id, True)


@chatwoot.command("resume")
@CONNECTION
@click.pass_context
def chatwoot_resume(ctx: click.Context, connection_id: int) -> None:
    """Sync again."""
    _set_paused(ctx, connection_id, False)


@chatwoot.command("remove")
@CONNECTION
@click.pass_context
def chatwoot_remove(ctx: click.Context, connection_id: int) -> None:
    """Remove the connection (Chatwoot itself is left as it is)."""
    _service(ctx, lambda s, r: s.remove(r.ctx, connection_id, workspace_id=None))
    click.echo(f"chatwoot connection {connection_id} removed")

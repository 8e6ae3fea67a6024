"""`wasession channels`: add, list, edit, rotate the credentials of, and remove channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from wasession.cli.shared import (
    CHANNEL_HELP,
    channel_ref,
    emit,
    pairs,
    runtime_for,
    user_errors,
    workspace_id_named,
)
from wasession.cli.shared import (
    settings as settings_of,
)

if TYPE_CHECKING:
    from wasession.services.channels import Channel


@click.group()
def channels() -> None:
    """Add, list, edit, rotate and remove channels (WhatsApp Business phone numbers)."""


@channels.command("add", epilog="Policy settings follow the options as KEY=VALUE, as in `wasession policy set`.")
@click.argument("policy_settings", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--name", required=True, help="What the dashboard calls the channel.")
@click.option("--phone-number-id", required=True, help="The phone number id Meta shows for the number.")
@click.option("--display-phone-number", default="", help="The number as customers see it, e.g. 15551234567.")
@click.option(
    "--access-token",
    envvar="WASESSION_ACCESS_TOKEN",
    prompt=True,
    hide_input=True,
    help="The Cloud API access token (env WASESSION_ACCESS_TOKEN, else prompted for).",
)
@click.option(
    "--app-secret",
    envvar="WASESSION_APP_SECRET",
    prompt=True,
    hide_input=True,
    help="The Meta app secret that signs webhooks (env WASESSION_APP_SECRET, else prompted for).",
)
@click.option(
    "--verify-token",
    envvar="WASESSION_VERIFY_TOKEN",
    prompt=True,
    hide_input=True,
    help="The token Meta echoes when it verifies the webhook URL (env WASESSION_VERIFY_TOKEN, else prompted for).",
)
@click.option("--graph-base-url", default=None, help="Override the Graph API base URL (tests, proxies).")
@click.option("--graph-version", default=None, help="Override the Graph API version, e.g. v25.0.")
@click.option("--rate-limit", "rate_limit", default=80, show_default=True, type=int, help="Messages per second.")
@click.option(
    "--workspace", default="default", show_default=True, help="The workspace the channel belongs to (by name)."
)
@click.option(
    "--skip-token-check",
    is_flag=True,
    help="Do not ask Meta whether the access token may act for the number (offline set-ups; warned about).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Deprecated: write KEY=VALUE after the options instead. Still accepted.",
)
@click.pass_context
def channels_add(
    ctx: click.Context,
    policy_settings: tuple[str, ...],
    workspace: str,
    name: str,
    phone_number_id: str,
    display_phone_number: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    graph_base_url: str | None,
    graph_version: str | None,
    rate_limit: int,
    skip_token_check: bool,
    settings: tuple[str, ...],
) -> None:
    """Add a channel for a WhatsApp Business phone number, with optional policy settings.

    Meta is asked first, with the channel's own token, whether it may act for the number (as
    `POST /api/v1/channels` does); a refused token creates nothing."""
    from wasession.services.channels import NewChannel, add_channel

    if settings:
        click.echo("note: --set is deprecated; write KEY=VALUE after the options, as `policy set` does", err=True)
    if skip_token_check:
        click.echo(
            "warning: --skip-token-check: Meta was not asked whether this access token may act for the number; "
            "a wrong one shows only when the first message fails",
            err=True,
        )
    with runtime_for(ctx) as runtime, user_errors():
        workspace_id = workspace_id_named(runtime, workspace)
        graph = None if skip_token_check else runtime.workers.graph_client(graph_base_url, graph_version)
        channel = add_channel(
            runtime.ctx,
            graph,
            NewChannel(
                name=name,
                phone_number_id=phone_number_id,
                access_token=access_token,
                app_secret=app_secret,
                verify_token=verify_token,
                display_phone_number=display_phone_number,
                graph_base_url=graph_base_url,
                graph_version=graph_version,
                rate_limit_per_second=rate_limit,
            ),
            pairs(settings + policy_settings),
            workspace_id=workspace_id,
            max_channels=runtime.settings.max_channels_per_workspace,
        )
    click.echo(f"channel {channel.id} created for phone_number_id {channel.phone_number_id} in workspace {workspace!r}")
    for line in setup_checklist(settings_of(ctx).base_url()):
        click.echo(line)


def setup_checklist(base_url: str) -> list[str]:
    """What is left to do in Meta's App Dashboard before the channel's webhooks arrive."""
    callback = base_url.rstrip("/") + "/webhooks/whatsapp"
    lines = [
        "Next, in Meta's App Dashboard (WhatsApp > Configuration > Webhook):",
        f"  1. Callback URL: {callback}",
        "  2. Verify token: the verify token you just gave this channel",
        "  3. Webhook fields: subscribe to `messages` (statuses and errors come with it)",
        "Then `wasession serve` must be running at that URL when you press Verify and save.",
    ]
    if not callback.startswith("https://"):
        lines.append(
            "  Meta calls only HTTPS URLs: set WASESSION_PUBLIC_URL to the https:// address in front of this "
            "server (README: HTTPS on one box)."
        )
    return lines


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def channels_list(ctx: click.Context, as_json: bool) -> None:
    """List every channel with its id, phone number id and workspace."""
    from wasession.runtime.reads import all_channels
    from wasession.services import workspaces as workspace_service

    with runtime_for(ctx) as runtime:
        rows = all_channels(runtime.ctx)
        names = {w.id: w.name for w in workspace_service.list_workspaces(runtime.ctx)}

    def line(c: Channel) -> str:
        kind = " (sandbox)" if c.sandbox else ""
        workspace = names.get(c.workspace_id, str(c.workspace_id))
        return f"{c.id:>4}  {c.phone_number_id:<18} {c.name}{kind}" + (
            "" if workspace == "default" else f"  [{workspace}]"
        )

    emit(
        rows,
        as_json,
        empty="no channels yet: `wasession channels add` (or `wasession serve` creates a sandbox)",
        line=line,
        row=lambda c: {
            "id": c.id,
            "name": c.name,
            "phone_number_id": c.phone_number_id,
            "workspace": names.get(c.workspace_id, str(c.workspace_id)),
            "sandbox": c.sandbox,
            "policy": c.policy.to_public(),
        },
    )


@channels.command("edit", epilog=CHANNEL_HELP)
@click.argument("channel")
@click.option("--name", default=None, help="A new name for the dashboard.")
@click.option("--display-phone-number", default=None, help="The number as customers see it.")
@click.option("--rate-limit", "rate_limit", default=None, type=int, help="Messages per second, 1 to 1000.")
@click.pass_context
def channels_edit(
    ctx: click.Context, channel: str, name: str | None, display_phone_number: str | None, rate_limit: int | None
) -> None:
    """Rename CHANNEL or change its displayed number or send rate."""
    from wasession.services.channel_admin import update_channel

    if name is None and display_phone_number is None and rate_limit is None:
        raise click.UsageError("give at least one of --name, --display-phone-number, --rate-limit")
    with runtime_for(ctx) as runtime:
        found = channel_ref(runtime, channel)
        with user_errors():
            updated = update_channel(
                runtime.ctx,
                found.id,
                workspace_id=found.workspace_id,
                name=name,
                display_phone_number=display_phone_number,
                rate_limit_per_second=rate_limit,
            )
    click.echo(f"channel {updated.id} {updated.name!r} updated")


def _secret(value: str | None, what: str) -> str | None:
    """`-` asks for the value without echoing it, so it stays out of the shell's history."""
    return click.prompt(f"New {what}", hide_input=True) if value == "-" else value


SECRET_HELP = "The new {} (`-` prompts for it without echo)."


@channels.command("rotate", epilog=CHANNEL_HELP)
@click.argument("channel")
@click.option("--access-token", default=None, help=SECRET_HELP.format("Cloud API access token"))
@click.option("--app-secret", default=None, help=SECRET_HELP.format("Meta app secret that signs webhooks"))
@click.option("--verify-token", default=None, help=SECRET_HELP.format("webhook verify token"))
@click.pass_context
def channels_rotate(
    ctx: click.Context, channel: str, access_token: str | None, app_secret: str | None, verify_token: str | None
) -> None:
    """Replace some of CHANNEL's credentials; a send pause caused by a refused token is lifted."""
    from wasession.services.channels import update_credentials

    if access_token is None and app_secret is None and verify_token is None:
        raise click.UsageError("give at least one of --access-token, --app-secret, --verify-token")
    with runtime_for(ctx) as runtime:
        found = channel_ref(runtime, channel)
        with user_errors():
            update_credentials(
                runtime.ctx,
                found.id,
                access_token=_secret(access_token, "access token"),
                app_secret=_secret(app_secret, "app secret"),
                verify_token=_secret(verify_token, "verify token"),
                workspace_id=found.workspace_id,
            )
    changed = [
        n for n, v in (("access token", access_token), ("app secret", app_secret), ("verify token", verify_token)) if v
    ]
    click.echo(f"channel {found.id} {found.name!r}: new {', '.join(changed)} stored")


@channels.command("remove", epilog=CHANNEL_HELP)
@click.argument("channel")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def channels_remove(ctx: click.Context, channel: str, yes: bool) -> None:
    """Delete CHANNEL with its sessions, transcripts and events."""
    from wasession.services.channel_admin import delete_channel

    with runtime_for(ctx) as runtime:
        found = channel_ref(runtime, channel)
        if not yes:
            click.confirm(
                f"Delete channel {found.id} {found.name!r} (phone_number_id {found.phone_number_id}) "
                "with all its sessions and transcripts?",
                abort=True,
            )
        with user_errors():
            delete_channel(runtime.ctx, found.id, workspace_id=found.workspace_id)
    click.echo(f"channel {found.id} {found.name!r} removed")

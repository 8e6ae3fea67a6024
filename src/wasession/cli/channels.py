"""`wasession channels`: add and list channels."""

from __future__ import annotations

import json

import click

from wasession.cli.shared import pairs, runtime_for, user_errors
from wasession.runtime.reads import all_channels


@click.group()
def channels() -> None:
    """Add and list channels (WhatsApp Business phone numbers)."""


@channels.command("add")
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
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A policy setting; repeatable.")
@click.pass_context
def channels_add(
    ctx: click.Context,
    name: str,
    phone_number_id: str,
    display_phone_number: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    graph_base_url: str | None,
    graph_version: str | None,
    rate_limit: int,
    settings: tuple[str, ...],
) -> None:
    """Add a channel for a WhatsApp Business phone number."""
    from wasession.services.channels import NewChannel, create_channel

    with runtime_for(ctx) as runtime, user_errors():
        channel = create_channel(
            runtime.ctx,
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
            pairs(settings),
            max_channels=runtime.settings.max_channels_per_workspace,
        )
    click.echo(f"channel {channel.id} created for phone_number_id {channel.phone_number_id}")


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def channels_list(ctx: click.Context, as_json: bool) -> None:
    """List every channel with its id and phone number id."""
    with runtime_for(ctx) as runtime:
        rows = all_channels(runtime.ctx)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "name": c.name,
                        "phone_number_id": c.phone_number_id,
                        "sandbox": c.sandbox,
                        "policy": c.policy.to_public(),
                    }
                    for c in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no channels yet: `wasession channels add` (or `wasession serve` creates a sandbox)")
    for c in rows:
        kind = " (sandbox)" if c.sandbox else ""
        click.echo(f"{c.id:>4}  {c.phone_number_id:<18} {c.name}{kind}")

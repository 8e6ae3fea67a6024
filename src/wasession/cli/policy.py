"""`wasession policy`: show or change a channel's session policy."""

from __future__ import annotations

import json

import click

from wasession.cli.shared import CHANNEL_HELP, channel_ref, pairs, runtime_for, user_errors, with_field

EXIT_USAGE = 2  # as click's own usage errors: the command was given settings it cannot take


@click.group()
def policy() -> None:
    """Show or change a channel's session policy."""


@policy.command("show", epilog=CHANNEL_HELP)
@click.argument("channel")
@click.pass_context
def policy_show(ctx: click.Context, channel: str) -> None:
    """Print CHANNEL's policy as JSON."""
    with runtime_for(ctx) as runtime:
        found = channel_ref(runtime, channel)
    click.echo(json.dumps(found.policy.to_public(), indent=2))


@policy.command("set", epilog=CHANNEL_HELP)
@click.argument("channel")
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.pass_context
def policy_set(ctx: click.Context, channel: str, settings: tuple[str, ...]) -> None:
    """Change CHANNEL's policy settings, e.g. reminder_after_hours=20 session_timeout=24h."""
    from wasession.domain.errors import ValidationErrors
    from wasession.services.channels import SETTINGS_SAVED, save_policy

    with runtime_for(ctx) as runtime:
        found = channel_ref(runtime, channel)
        with user_errors():
            try:
                saved = save_policy(runtime.ctx, found.id, pairs(settings))
            except ValidationErrors as exc:  # every bad setting, one line each, and nothing saved
                for error in exc.errors:
                    click.echo(f"error: {with_field(error.field, error.message)}", err=True)
                ctx.exit(EXIT_USAGE)
    click.echo(SETTINGS_SAVED)
    click.echo(json.dumps(saved.to_public(), indent=2))

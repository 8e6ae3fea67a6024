"""`wasession users`: dashboard users (issue 4)."""

from __future__ import annotations

import click

from wasession.cli.shared import runtime_for, user_errors


@click.group()
def users() -> None:
    """Dashboard users."""


@users.command("create")
@click.option("--username", required=True, help="The login name.")
@click.option("--workspace", default="default", show_default=True, help="Created if it does not exist.")
@click.option(
    "--password",
    envvar="WASESSION_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Read from WASESSION_ADMIN_PASSWORD, else prompted for (never pass it on the command line).",
)
@click.pass_context
def users_create(ctx: click.Context, username: str, workspace: str, password: str) -> None:
    """Create an admin user who can log in to the dashboard."""
    from wasession.services import users as user_service

    with runtime_for(ctx) as runtime, user_errors():
        user_service.create_user(runtime.ctx, username, password, workspace=workspace)
    click.echo(f"Created admin user {username!r} in workspace {workspace!r}; log in at /dashboard/login")

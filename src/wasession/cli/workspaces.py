"""`wasession workspaces`: create and list workspaces (issue 4)."""

from __future__ import annotations

import click

from wasession.cli.shared import runtime_for, user_errors


@click.group()
def workspaces() -> None:
    """Create and list workspaces."""


@workspaces.command("create")
@click.argument("name")
@click.pass_context
def workspaces_create(ctx: click.Context, name: str) -> None:
    """Create the workspace NAME."""
    from wasession.services import workspaces as workspace_service

    with runtime_for(ctx) as runtime, user_errors():
        created = workspace_service.create_workspace(runtime.ctx, name)
    click.echo(f"workspace {created.id} {created.name!r} created")


@workspaces.command("list")
@click.pass_context
def workspaces_list(ctx: click.Context) -> None:
    """List every workspace with its id."""
    from wasession.services import workspaces as workspace_service

    with runtime_for(ctx) as runtime:
        found = workspace_service.list_workspaces(runtime.ctx)
    for w in found:
        click.echo(f"{w.id:>4}  {w.name}")

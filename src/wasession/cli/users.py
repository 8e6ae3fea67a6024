"""`wasession users`: dashboard users and their roles (admin or agent)."""

from __future__ import annotations

import click

from wasession.cli.shared import emit, runtime_for, user_errors

PASSWORD_HELP = "Read from WASESSION_ADMIN_PASSWORD, else prompted for (never pass it on the command line)."


def _password_option(help_text: str = PASSWORD_HELP) -> click.Option:
    return click.Option(
        ["--password"],
        envvar="WASESSION_ADMIN_PASSWORD",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help=help_text,
    )


@click.group()
def users() -> None:
    """Dashboard users: admins change settings, channels and keys; agents read and answer chats."""


@click.command("add", params=[_password_option()])
@click.option("--username", required=True, help="The login name: letters, digits and _ . @ -.")
@click.option(
    "--workspace",
    default="default",
    show_default=True,
    help="The user's workspace (by name); it must exist, unless --create-workspace is given.",
)
@click.option("--create-workspace", is_flag=True, help="Create the workspace when no workspace has that name.")
@click.option(
    "--role",
    type=click.Choice(["admin", "agent"]),
    default="admin",
    show_default=True,
    help="admin: everything in the workspace; agent: read and answer its chats, change no settings.",
)
@click.pass_context
def users_add(
    ctx: click.Context, username: str, workspace: str, create_workspace: bool, role: str, password: str
) -> None:
    """Create a user who can log in to the dashboard."""
    from wasession.services import users as user_service

    with runtime_for(ctx) as runtime, user_errors():
        user_service.create_user(
            runtime.ctx, username, password, workspace=workspace, role=role, new_workspace=create_workspace
        )
    click.echo(f"Created {role} user {username!r} in workspace {workspace!r}; log in at /dashboard/login")


users.add_command(users_add)
# `users create` is the name earlier releases documented; it is the same command.
users.add_command(users_add, name="create")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List every user with their workspace and role."""
    from wasession.services import users as user_service
    from wasession.services import workspaces as workspace_service

    with runtime_for(ctx) as runtime:
        found = user_service.list_users(runtime.ctx)
        names = {w.id: w.name for w in workspace_service.list_workspaces(runtime.ctx)}
    rows = [
        {
            "id": u.id,
            "username": u.username,
            "workspace": names.get(u.workspace_id, str(u.workspace_id)),
            "role": user_service.role_of(u),
            "created_at": u.created_at.isoformat(),
        }
        for u in found
    ]
    emit(
        rows,
        as_json,
        empty="no users yet: `wasession users add --username admin`",
        line=lambda r: f"{r['id']:>4}  {r['username']:<24} {r['role']:<6} {r['workspace']}",
        row=lambda r: r,
    )


@users.command("delete")
@click.argument("username")
@click.pass_context
def users_delete(ctx: click.Context, username: str) -> None:
    """Delete USERNAME and log them out of every browser."""
    from wasession.services import users as user_service

    with runtime_for(ctx) as runtime, user_errors():
        user_service.delete_user(runtime.ctx, username)
    click.echo(f"user {username!r} deleted")


@click.command("reset-password", params=[_password_option("The new password; " + PASSWORD_HELP)])
@click.argument("username")
@click.pass_context
def users_reset_password(ctx: click.Context, username: str, password: str) -> None:
    """Give USERNAME a new password and log them out of every browser."""
    from wasession.services import users as user_service

    with runtime_for(ctx) as runtime, user_errors():
        user_service.reset_password(runtime.ctx, username, password)
    click.echo(f"password of {username!r} changed; their login sessions ended")


users.add_command(users_reset_password)

"""The `wasession` command line: one module per command group, sharing `cli/shared.py`."""

from __future__ import annotations

import click

from wasession.cli.apikeys import apikeys
from wasession.cli.channels import channels
from wasession.cli.demo import demo
from wasession.cli.forwards import forwards
from wasession.cli.keygen import keygen
from wasession.cli.migrate import migrate
from wasession.cli.policy import policy
from wasession.cli.sandbox import sandbox
from wasession.cli.serve import serve
from wasession.cli.shared import Group
from wasession.cli.users import users
from wasession.cli.webhooks import webhooks
from wasession.cli.worker import worker
from wasession.cli.workspaces import workspaces


@click.group(cls=Group)
@click.option(
    "--database-url",
    envvar="WASESSION_DATABASE_URL",
    default=None,
    help="sqlite:///path/file.sqlite3 (default: ./wasession.sqlite3) or postgresql://user@host/db",
)
@click.option("--debug", is_flag=True, help="On a configuration error, print the traceback too.")
@click.version_option(package_name="wasession")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, debug: bool) -> None:
    """wasession: WhatsApp chat sessions with 24-hour windows, reminders and closure, to the second."""
    ctx.obj = {"database_url": database_url, "debug": debug}


for command in (serve, worker, migrate, demo, keygen, channels, policy, sandbox, webhooks, users, workspaces, apikeys):
    main.add_command(command)
main.add_command(forwards)  # issue 16: the webhook relay

__all__ = ["main"]

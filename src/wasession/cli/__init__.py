"""The `wasession` command line: one module per command group, sharing `cli/shared.py`."""

from __future__ import annotations

import click

from wasession.cli.apikeys import apikeys
from wasession.cli.channels import channels
from wasession.cli.chatwoot import chatwoot
from wasession.cli.demo import demo
from wasession.cli.forwards import forwards
from wasession.cli.keygen import keygen
from wasession.cli.migrate import migrate
from wasession.cli.paths import paths
from wasession.cli.policy import policy
from wasession.cli.rates import rates
from wasession.cli.sandbox import sandbox
from wasession.cli.serve import serve
from wasession.cli.shared import GLOBAL_OPTIONS, Group, add_global_options
from wasession.cli.users import users
from wasession.cli.webhooks import webhooks
from wasession.cli.worker import worker
from wasession.cli.workspaces import workspaces


@click.group(cls=Group)
@click.option("--database-url", envvar="WASESSION_DATABASE_URL", default=None, help=GLOBAL_OPTIONS["database_url"])
@click.option("--home", envvar="WASESSION_HOME", default=None, help=GLOBAL_OPTIONS["home"])
@click.option("--debug", is_flag=True, help="On a configuration error, print the traceback too.")
@click.version_option(package_name="wasession", help="Print the installed version and exit.")
@click.help_option(help="Show this message and exit.")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, home: str | None, debug: bool) -> None:
    """wasession: WhatsApp chat sessions with 24-hour windows, reminders and closure, to the second."""
    ctx.obj = {"database_url": database_url, "home": home, "debug": debug}


for command in (
    serve,
    worker,
    migrate,
    demo,
    keygen,
    paths,
    channels,
    policy,
    sandbox,
    webhooks,
    users,
    workspaces,
    apikeys,
    forwards,
    rates,
    chatwoot,
):
    main.add_command(command)
    add_global_options(command)

__all__ = ["main"]

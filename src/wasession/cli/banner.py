"""What `serve` prints once it is ready to start: where to point a browser, Meta and the sandbox,
in plain words, and the next step when the dashboard has no admin yet."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # `worker` and `serve` import this module; every command imports those to list them
    from wasession.config import Settings
    from wasession.services.channels import Channel

LOG_FORMAT_OPTION = click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    envvar="WASESSION_LOG_FORMAT",
    default=None,
    help="json: one object a line; text: for people [env WASESSION_LOG_FORMAT; default text on a terminal, else json].",
)


def own_command() -> str:
    """This program as the user can run it again from any folder: the absolute path of the
    `wasession` script that is running (a venv's bin/ need not be on PATH), else `python -m wasession`."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "wasession" and os.path.isfile(script):
        return os.path.abspath(script)
    return f"{sys.executable} -m wasession"


def _store_options(config: Settings) -> str:
    """The options another command needs to open this server's database: none with the defaults."""
    out = ""
    if config.home:
        out += f" --home {config.home_dir()}"
    if not config.uses_default_database():
        out += f" --database-url {config.safe_database_url()}"
    return out


def banner(config: Settings, database: str, *, sandboxes: Sequence[Channel], has_admin: bool) -> list[str]:
    base = config.base_url()
    command = own_command()
    store = _store_options(config)
    lines = [
        f"wasession is starting; {database}",
        f"  Dashboard:    {base}/dashboard",
        f"  Webhook URL:  {base}/webhooks/whatsapp  (the callback URL to give Meta)",
        f"  Health:       {base}/healthz",
        f"  Data folder:  {config.home_dir()}",
    ]
    if not has_admin:
        lines.append(f"  No dashboard user yet: create an admin with  {command}{store} users add --username admin")
    for c in sandboxes:
        lines.append(
            f"  Sandbox channel {c.id} (phone_number_id {c.phone_number_id}): play the customer from another "
            f"terminal with"
        )
        lines.append(f"    {command}{store} sandbox message --url {base} 'Hello!'")
    return lines

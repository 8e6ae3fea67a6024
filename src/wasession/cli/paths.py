"""`wasession paths`: where this command's database and secret key are, so an operator can tell
which database a command run from any folder will open."""

from __future__ import annotations

import click

from wasession.cli.shared import settings


@click.command()
@click.pass_context
def paths(ctx: click.Context) -> None:
    """Print the data folder, the database URL, the webhook log's file and the key file this command
    would use."""
    config = settings(ctx)
    click.echo(f"data folder: {config.home_dir()}")
    click.echo(f"database:    {config.safe_database_url()}")
    log_file = config.webhook_log_file()
    if log_file is not None:
        click.echo(f"webhook log: {log_file}")
    click.echo(f"secret key:  {config.key_file() or 'WASESSION_SECRET_KEY'}")

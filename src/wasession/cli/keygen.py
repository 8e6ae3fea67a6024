"""`wasession keygen`: a new secret key."""

from __future__ import annotations

import click

from wasession.runtime.core import new_secret_key


@click.command()
def keygen() -> None:
    """Print a new value for WASESSION_SECRET_KEY (it encrypts the stored channel credentials)."""
    click.echo(new_secret_key())

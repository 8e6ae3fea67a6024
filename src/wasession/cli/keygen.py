"""`wasession keygen`: a new secret key."""

from __future__ import annotations

import click


@click.command()
def keygen() -> None:
    """Print a new value for WASESSION_SECRET_KEY (it encrypts the stored channel credentials)."""
    from wasession.runtime.core import new_secret_key  # not at every command's start: it opens no runtime

    click.echo(new_secret_key())

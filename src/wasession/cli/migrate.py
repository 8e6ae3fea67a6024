"""`wasession migrate`: create or upgrade the database schema."""

from __future__ import annotations

import click

from wasession.cli.shared import settings


@click.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    from wasession.runtime import Runtime  # here, not at every command's start (cli/shared.py says why)

    runtime = Runtime(settings(ctx))
    try:
        runtime.check_database()
        before = runtime.schema_revision()
        runtime.migrate()
        after = runtime.schema_revision()
    finally:
        runtime.stop()
    click.echo(f"database at revision {after}" + (" (unchanged)" if before == after else f" (was {before})"))

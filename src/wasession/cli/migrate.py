"""`wasession migrate`: create or upgrade the database schema."""

from __future__ import annotations

import click

from wasession.cli.shared import settings
from wasession.runtime import Runtime


@click.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    runtime = Runtime(settings(ctx))
    try:
        runtime.check_database()
        before = runtime.schema_revision()
        runtime.migrate()
        after = runtime.schema_revision()
    finally:
        runtime.stop()
    click.echo(f"database at revision {after}" + (" (unchanged)" if before == after else f" (was {before})"))

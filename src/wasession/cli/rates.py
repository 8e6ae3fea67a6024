"""`wasession rates`: import or show a workspace's rate card (docs/rules.md R23)."""

from __future__ import annotations

import click

from wasession.cli.shared import runtime_for, user_errors, workspace_id_named

WORKSPACE_HELP = "The workspace's name."


@click.group()
def rates() -> None:
    """A workspace's rate card: what Meta charges per message, by market and category."""


@rates.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--workspace", default="default", show_default=True, help=WORKSPACE_HELP)
@click.pass_context
def rates_import(ctx: click.Context, file: str, workspace: str) -> None:
    """Replace the workspace's rate card with FILE: Meta's rate card CSV as downloaded, or the long form
    `calling_code,category,price,currency`. A wrong card is refused, naming its line and column."""
    from wasession.services import rates as rates_service

    with click.open_file(file, encoding="utf-8-sig") as handle:
        text = handle.read()
    with runtime_for(ctx) as runtime, user_errors():
        card = rates_service.import_rate_card(runtime.ctx, workspace_id_named(runtime, workspace), text)
    markets = len({r.calling_code for r in card.rates})
    click.echo(
        f"rate card imported for workspace {workspace!r}: "
        f"{len(card.rates)} rates, {markets} calling codes, {card.currency}"
    )


@rates.command("show")
@click.option("--workspace", default="default", show_default=True, help=WORKSPACE_HELP)
@click.pass_context
def rates_show(ctx: click.Context, workspace: str) -> None:
    """Print the workspace's rate card in the long form."""
    from wasession.services import rates as rates_service

    with runtime_for(ctx) as runtime, user_errors():
        card = rates_service.rate_card(runtime.ctx, workspace_id_named(runtime, workspace))
    if card is None:
        raise click.ClickException(
            f"workspace {workspace!r} has no rate card: import one with `wasession rates import FILE`"
        )
    click.echo("calling_code,category,price,currency")
    for code, category, price in card.to_rows():
        click.echo(f"{code},{category},{price},{card.currency}")

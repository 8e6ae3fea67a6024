"""`wasession webhooks`: the raw webhook log (issue 3)."""

from __future__ import annotations

import click

from wasession.cli.shared import emit, runtime_for


@click.group()
def webhooks() -> None:
    """The raw webhook log: unroutable bodies, retention, re-processing."""


@webhooks.command("unroutable")
@click.option("--limit", default=100, show_default=True, type=int, help="Show at most this many bodies.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def webhooks_unroutable(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Bodies for phone_number_ids no channel claims (answered 2xx so Meta does not retry them)."""
    from wasession.ingest import logged_bodies

    with runtime_for(ctx) as runtime:
        rows = logged_bodies(runtime.ctx, unroutable_only=True, limit=limit)
    emit(
        rows,
        as_json,
        empty="no unroutable webhooks",
        line=lambda r: f"{r.id:>8}  {r.received_at.isoformat()}  phone_number_id {', '.join(r.unroutable_ids)}",
        row=lambda r: {"id": r.id, "received_at": r.received_at.isoformat(), "phone_number_ids": r.unroutable_ids},
    )


@webhooks.command("prune")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Keep this many days (default: WASESSION_WEBHOOK_RETENTION_DAYS, 30).",
)
@click.pass_context
def webhooks_prune(ctx: click.Context, days: int | None) -> None:
    """Delete stored webhook bodies older than the retention period."""
    from wasession.ingest import prune_webhook_log

    if days is not None and days < 1:
        raise click.BadParameter(f"must be at least 1; got {days}", param_hint="--days")
    with runtime_for(ctx) as runtime:
        keep = days if days is not None else runtime.settings.webhook_retention_days
        removed = prune_webhook_log(runtime.ctx, keep)
    click.echo(f"removed {removed} webhook bodies older than {keep} days")


@webhooks.command("reprocess")
@click.option("--since", default=None, help="Only bodies received at or after this ISO 8601 instant.")
@click.option("--id", "log_id", type=int, default=None, help="Only this stored body.")
@click.option("--errors-only", is_flag=True, help="Only bodies whose processing failed.")
@click.pass_context
def webhooks_reprocess(ctx: click.Context, since: str | None, log_id: int | None, errors_only: bool) -> None:
    """Apply stored bodies again (safe to repeat: known wamids and old statuses change nothing)."""
    from wasession.domain.clock import parse_instant
    from wasession.ingest import reprocess_logged

    try:
        since_at = parse_instant(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    done = errors = 0
    with runtime_for(ctx) as runtime:
        for result in reprocess_logged(runtime.ingestor, since=since_at, log_id=log_id, errors_only=errors_only):
            done += 1
            if result.error:
                errors += 1
                click.echo(f"{result.log_id}: {result.outcome()}", err=True)
    click.echo(f"reprocessed {done} webhook bodies, {errors} with errors")
    if errors:
        ctx.exit(1)

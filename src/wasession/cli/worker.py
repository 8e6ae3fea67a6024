"""`wasession worker`: the workers alone, for scale-out beside `serve`."""

from __future__ import annotations

import click

from wasession.cli.banner import LOG_FORMAT_OPTION
from wasession.cli.shared import open_runtime, settings


@click.command()
@LOG_FORMAT_OPTION
@click.pass_context
def worker(ctx: click.Context, log_format: str | None) -> None:
    """Run the workers only (due work and sending), for scale-out beside `serve`."""
    import signal
    import threading

    from wasession.observability.logging import configure as configure_logging

    config = settings(ctx)
    configure_logging(log_format or config.log_format, config.log_level)
    metrics_port = config.metrics_port
    runtime = open_runtime(ctx, migrate_sqlite=False)
    if metrics_port is not None:  # a worker has no API: its counters get their own port
        import prometheus_client

        prometheus_client.start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime.start_workers()
    click.echo(f"wasession worker {runtime.owner} running; Ctrl-C to stop", err=True)
    stop.wait()
    runtime.stop()

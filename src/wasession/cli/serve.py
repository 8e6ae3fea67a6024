"""`wasession serve`: the API, the webhook endpoint, the dashboard and the workers in one process."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

import click

from wasession.cli.banner import LOG_FORMAT_OPTION, banner
from wasession.cli.shared import open_runtime, settings
from wasession.config import SANDBOX_SPEED_OPTION, StartupError

# `wasession` imports this module to list `serve` in its help and to run every other command: the
# runtime, the services and the app are imported when serve runs (below), not at every command's start.
if TYPE_CHECKING:
    from wasession.runtime import Runtime

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", default=None, help="Interface to listen on [env WASESSION_HOST; default 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port to listen on [env WASESSION_PORT; default 8000].")
@click.option(
    "--public-url",
    envvar="WASESSION_PUBLIC_URL",
    default=None,
    help="The URL Meta reaches this server at (default http://HOST:PORT).",
)
@click.option(
    "--sandbox/--no-sandbox",
    default=True,
    show_default=True,
    help="With no channel configured, create a sandbox channel on the built-in fake Cloud API.",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="WASESSION_ACCESS_LOG",
    default=False,
    show_default=True,
    help="Log every HTTP request (a line per webhook: at full throughput, thousands a second).",
)
@click.option(
    SANDBOX_SPEED_OPTION,
    "sandbox_speed",
    type=click.FloatRange(min=1),
    default=None,
    metavar="N",
    help="Run the clock N times faster than real time (60: the sandbox's 1-hour reminder in a minute). "
    "Only when every channel is a sandbox channel.",
)
@LOG_FORMAT_OPTION
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    public_url: str | None,
    sandbox: bool,
    access_log: bool,
    sandbox_speed: float | None,
    log_format: str | None,
) -> None:
    """Run the API, the webhook endpoint, the dashboard and the workers in one process."""
    import uvicorn

    from wasession.api.serving import uvicorn_options
    from wasession.domain.clock import AcceleratedClock
    from wasession.observability.logging import configure as configure_logging
    from wasession.runtime import apply_child, heap
    from wasession.runtime.reads import describe_database
    from wasession.sandbox.fake_cloud import FakeCloudApi
    from wasession.sandbox.pump import WebhookPump
    from wasession.server import SANDBOX_GRAPH_PATH, create_app
    from wasession.services import fast_clock
    from wasession.services.sandbox import ensure_sandbox_channel, register_sandbox
    from wasession.services.users import has_admin

    ctx.find_root().obj.update(host=host, port=port, public_url=public_url)
    config = settings(ctx)
    configure_logging(log_format or config.log_format, config.log_level)
    base = config.base_url()
    _refuse_busy_port(config.host, config.port)  # before anything is created: a key, a database
    clock = AcceleratedClock(sandbox_speed) if sandbox_speed is not None else None
    # An accelerated clock lives in this process only: the child would apply on real time.
    apply_in_child = config.apply_process and sandbox_speed is None
    # Before the database is opened and any thread started: the child shares what was imported (issue 24).
    forked = apply_child.fork() if apply_in_child else None
    runtime = open_runtime(ctx, clock=clock, sandbox_base_url=base + SANDBOX_GRAPH_PATH)
    try:
        _refuse_beside_a_fast_server(runtime)
        if sandbox_speed is not None:
            _refuse_speed_with_real_channels(runtime)
        if sandbox_speed is not None:
            fast_clock.beat(runtime.ctx, runtime.owner, sandbox_speed)
        retimed = fast_clock.retime_sandboxes(runtime.ctx)
        if sandbox:
            ensure_sandbox_channel(runtime.ctx)
    except BaseException:
        runtime.stop()
        raise
    fake = FakeCloudApi(runtime.clock)
    # Sends to the sandbox go to `fake`, and ingest tells it of every customer message, so its
    # 24-hour window matches ours (without this every sandbox reminder fails with 131047).
    runtime.attach_fake(fake)
    sandboxes = register_sandbox(runtime.ctx, fake, base + "/webhooks/whatsapp")
    pump = WebhookPump(fake, runtime.clock, base + "/webhooks/whatsapp")

    def start() -> None:
        workers = runtime.start_workers(apply_process=apply_in_child, log_format=log_format, forked=forked)
        if sandboxes:
            workers.add_loop("sandbox-webhooks", pump.step, fake.next_webhook_at).start()
        if sandbox_speed is not None:
            workers.add_loop("fast-clock", guard, lambda: None, max_sleep=fast_clock.BEAT_EVERY, wakeable=False).start()
        heap.settle()  # last: what startup built stays out of every collection

    stopped_for: list[str] = []
    stopping: list[uvicorn.Server] = []

    def guard() -> None:
        """A real channel added behind this server's back (another process's check raced, or a row
        written by hand): stop rather than drive it on the fast clock."""
        assert sandbox_speed is not None
        real = fast_clock.beat(runtime.ctx, runtime.owner, sandbox_speed).real_channels
        if real and not stopped_for:
            c = real[0]
            stopped_for.append(
                f"channel {c.id} {c.name!r} is not a sandbox channel, and this server runs {sandbox_speed:g} times "
                f"faster than real time: stopped so its customers are not messaged early; "
                f"start `wasession serve` without {SANDBOX_SPEED_OPTION}"
            )
            log.critical("%s", stopped_for[0])
            for server in stopping:
                server.should_exit = True  # uvicorn's graceful stop, then on_stop

    def stop() -> None:
        if sandbox_speed is not None:
            fast_clock.end(runtime.ctx, runtime.owner)
        runtime.stop()

    app = create_app(runtime, sandbox_graph=fake.app if sandboxes else None, on_start=start, on_stop=stop)
    for line in banner(config, describe_database(runtime.ctx), sandboxes=sandboxes, has_admin=has_admin(runtime.ctx)):
        click.echo(line)
    if sandbox_speed is not None:
        click.echo(f"  Clock running {sandbox_speed:g} times faster than real time ({SANDBOX_SPEED_OPTION})")
    for line in retimed:
        click.echo(f"  {line}")
    # log_config=None keeps the JSON/text handler set up above; uvicorn answers SIGTERM by finishing
    # requests in flight, then the lifespan's on_stop stops the workers gracefully.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="info",
            log_config=None,
            access_log=access_log,
            **uvicorn_options(config),
        )
    )
    stopping.append(server)
    server.run()
    if stopped_for:
        click.echo(f"error: {SANDBOX_SPEED_OPTION}: {stopped_for[0]}", err=True)
        ctx.exit(3)


def _refuse_speed_with_real_channels(runtime: Runtime) -> None:
    """An accelerated clock would send a real customer's reminders and closures early."""
    from wasession.runtime.reads import all_channels

    real = [c for c in all_channels(runtime.ctx) if not c.sandbox]
    if real:
        c = real[0]
        raise StartupError(
            SANDBOX_SPEED_OPTION,
            f"channel {c.id} {c.name!r} is not a sandbox channel, and a faster clock would message its customers early",
            "drop the option, or use a database whose only channels are sandbox channels",
        )


def _refuse_beside_a_fast_server(runtime: Runtime) -> None:
    """Two servers on one database must agree on the time: none may join a sped-up one."""
    from wasession.services import fast_clock

    other = fast_clock.beside(runtime.ctx, runtime.owner)
    if other is not None:
        raise StartupError(
            "serve",
            fast_clock.describe(other),
            f"stop that server first (a killed one stops counting {fast_clock.BEAT_TTL.seconds} s after it died)",
        )


def _refuse_busy_port(host: str, port: int) -> None:
    """Checked before the banner and the engine: a busy port is one line, not a started engine that then fails."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StartupError(
            "--host",
            f"{host!r} is not an address this machine can listen on ({exc})",
            "give an address of this machine, e.g. 127.0.0.1",
        ) from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT after a restart is not called busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                problem = f"port {port} on {host} is already in use (another server?)"
            else:
                problem = f"cannot listen on {host}:{port} ({exc.strerror})"
            raise StartupError(
                "--port", problem, "stop what listens there, or choose another port (--port or WASESSION_PORT)"
            ) from None

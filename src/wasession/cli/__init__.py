"""The `wasession` command line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from wasession.config import Settings
from wasession.domain.errors import ValidationError
from wasession.services.errors import ConflictError, NotFoundError


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    values = {k: v for k, v in {**ctx.obj, **overrides}.items() if v is not None}
    return Settings(**values)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors a user caused end the command with their message and exit code 2, not a traceback."""
    try:
        yield
    except (ValidationError, ConflictError, NotFoundError) as exc:
        field = getattr(exc, "field", None)
        raise click.ClickException(
            f"{field}: {exc}" if field and not str(exc).startswith(field) else str(exc)
        ) from exc


def _runtime(ctx: click.Context, *, migrate_sqlite: bool = True, **kwargs: Any) -> Any:
    from wasession.runtime import Runtime

    runtime = Runtime(_settings(ctx), **kwargs)
    if runtime.key_created:
        click.echo(
            f"Created a new secret key in {runtime.key_file}; keep it: it decrypts the stored credentials.",
            err=True,
        )
    if runtime.db.is_sqlite and migrate_sqlite:
        runtime.migrate()
    elif not runtime.schema_current():
        runtime.stop()
        raise click.ClickException("the database schema is not current: run `wasession migrate` first")
    return runtime


@click.group()
@click.option(
    "--database-url",
    envvar="WASESSION_DATABASE_URL",
    default=None,
    help="sqlite:///path/file.sqlite3 (default: ./wasession.sqlite3) or postgresql://user@host/db",
)
@click.version_option(package_name="wasession")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """wasession: WhatsApp chat sessions with 24-hour windows, reminders and closure, to the second."""
    ctx.obj = {"database_url": database_url}


@main.command()
@click.option("--host", envvar="WASESSION_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="WASESSION_PORT", default=8000, show_default=True, type=int)
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
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, public_url: str | None, sandbox: bool, access_log: bool
) -> None:
    """Run the API, the webhook endpoint and the engine in one process."""
    import uvicorn

    from wasession.api.app import SANDBOX_GRAPH_PATH, create_app
    from wasession.observability.logging import configure as configure_logging
    from wasession.sandbox.fake_cloud import FakeCloudApi
    from wasession.sandbox.pump import WebhookPump
    from wasession.services.sandbox import ensure_sandbox_channel, register_sandbox

    configure_logging()
    ctx.obj.update(host=host, port=port, public_url=public_url)
    settings = _settings(ctx)
    base = settings.base_url()
    runtime = _runtime(ctx, sandbox_base_url=base + SANDBOX_GRAPH_PATH)
    if sandbox:
        ensure_sandbox_channel(runtime.ctx)
    fake = FakeCloudApi(runtime.clock)
    runtime.attach_fake(fake)
    sandboxes = register_sandbox(runtime.ctx, fake, base + "/webhooks/whatsapp")
    pump = WebhookPump(fake, runtime.clock, base + "/webhooks/whatsapp")

    def start() -> None:
        runtime.start_engine()
        if sandboxes:
            runtime.add_loop("sandbox-webhooks", pump.step, fake.next_webhook_at).start()

    app = create_app(
        runtime, sandbox_graph=fake.app if sandboxes else None, on_start=start, on_stop=runtime.stop
    )
    click.echo(
        f"wasession {settings.normalized_database_url().split('://')[0]} database: "
        f"{_safe_url(settings.normalized_database_url())}"
    )
    click.echo(f"Webhook URL for Meta: {base}/webhooks/whatsapp   health: {base}/healthz")
    for c in sandboxes:
        click.echo(
            f"Sandbox channel {c.id} (phone_number_id {c.phone_number_id}): play the customer with\n"
            f"  wasession sandbox message --url {base} 'Hello!'"
        )
    # log_config=None keeps the JSON/text handler set up above; uvicorn answers SIGTERM by finishing
    # requests in flight, then the lifespan's on_stop stops the engine gracefully.
    from wasession.api.serving import uvicorn_options

    uvicorn.run(
        app, host=host, port=port, log_level="info", log_config=None, access_log=access_log,
        **uvicorn_options(settings),
    )


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the engine only (due work and sending), for scale-out beside `serve`."""
    import signal
    import threading

    from wasession.observability.logging import configure as configure_logging

    configure_logging()
    runtime = _runtime(ctx, migrate_sqlite=False)
    if os.environ.get("WASESSION_METRICS_PORT"):  # a worker has no API: its counters get their own port
        import prometheus_client

        prometheus_client.start_http_server(int(os.environ["WASESSION_METRICS_PORT"]), addr="127.0.0.1")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime.start_engine()
    click.echo(f"wasession worker {runtime.owner} running; Ctrl-C to stop", err=True)
    stop.wait()
    runtime.stop()


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    from wasession.runtime import Runtime
    from wasession.store import migrate as migrations

    runtime = Runtime(_settings(ctx))
    try:
        before = migrations.current_revision(runtime.db)
        runtime.migrate()
        after = migrations.current_revision(runtime.db)
    finally:
        runtime.stop()
    click.echo(f"database at revision {after}" + (" (unchanged)" if before == after else f" (was {before})"))


@main.command()
@click.option("--start", default="2026-01-05T09:00:00Z", show_default=True, help="Virtual start time (UTC).")
def demo(start: str) -> None:
    """A scripted day on a virtual clock, printed as a timeline."""
    from wasession.cli.demo import run_demo

    run_demo(start, click.echo)


@main.command()
def keygen() -> None:
    """Print a new value for WASESSION_SECRET_KEY."""
    from wasession.store.secrets import SecretBox

    click.echo(SecretBox.generate_key())


# -- channels and policy ------------------------------------------------------------------------------


@main.group()
def channels() -> None:
    """Add and list channels (WhatsApp Business phone numbers)."""


@channels.command("add")
@click.option("--name", required=True)
@click.option("--phone-number-id", required=True, help="The phone number id Meta shows for the number.")
@click.option("--display-phone-number", default="")
@click.option("--access-token", envvar="WASESSION_ACCESS_TOKEN", prompt=True, hide_input=True)
@click.option("--app-secret", envvar="WASESSION_APP_SECRET", prompt=True, hide_input=True)
@click.option("--verify-token", envvar="WASESSION_VERIFY_TOKEN", prompt=True, hide_input=True)
@click.option("--graph-base-url", default=None, help="Override the Graph API base URL (tests, proxies).")
@click.option("--graph-version", default=None, help="Override the Graph API version, e.g. v25.0.")
@click.option(
    "--rate-limit", "rate_limit", default=80, show_default=True, type=int, help="Messages per second."
)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A policy setting; repeatable.")
@click.pass_context
def channels_add(
    ctx: click.Context,
    name: str,
    phone_number_id: str,
    display_phone_number: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    graph_base_url: str | None,
    graph_version: str | None,
    rate_limit: int,
    settings: tuple[str, ...],
) -> None:
    from wasession.services.channels import NewChannel, create_channel

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            channel = create_channel(
                runtime.ctx,
                NewChannel(
                    name=name,
                    phone_number_id=phone_number_id,
                    access_token=access_token,
                    app_secret=app_secret,
                    verify_token=verify_token,
                    display_phone_number=display_phone_number,
                    graph_base_url=graph_base_url,
                    graph_version=graph_version,
                    rate_limit_per_second=rate_limit,
                ),
                _pairs(settings),
                max_channels=runtime.settings.max_channels_per_workspace,
            )
    finally:
        runtime.stop()
    click.echo(f"channel {channel.id} created for phone_number_id {channel.phone_number_id}")


@channels.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def channels_list(ctx: click.Context, as_json: bool) -> None:
    from wasession.store import channels as channel_store

    runtime = _runtime(ctx)
    try:
        with runtime.db.read() as conn:
            rows = channel_store.list_all(conn)
    finally:
        runtime.stop()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "name": c.name,
                        "phone_number_id": c.phone_number_id,
                        "sandbox": c.sandbox,
                        "policy": c.policy.to_public(),
                    }
                    for c in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no channels yet: `wasession channels add` (or `wasession serve` creates a sandbox)")
    for c in rows:
        kind = " (sandbox)" if c.sandbox else ""
        click.echo(f"{c.id:>4}  {c.phone_number_id:<18} {c.name}{kind}")


@main.group()
def policy() -> None:
    """Show or change a channel's session policy."""


@policy.command("show")
@click.argument("channel_id", type=int)
@click.pass_context
def policy_show(ctx: click.Context, channel_id: int) -> None:
    from wasession.services.channels import get_channel

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            channel = get_channel(runtime.ctx, channel_id)
    finally:
        runtime.stop()
    click.echo(json.dumps(channel.policy.to_public(), indent=2))


@policy.command("set")
@click.argument("channel_id", type=int)
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.pass_context
def policy_set(ctx: click.Context, channel_id: int, settings: tuple[str, ...]) -> None:
    from wasession.services.channels import SETTINGS_SAVED, save_policy

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            saved = save_policy(runtime.ctx, channel_id, _pairs(settings))
    finally:
        runtime.stop()
    click.echo(SETTINGS_SAVED)
    click.echo(json.dumps(saved.to_public(), indent=2))


# -- sandbox ---------------------------------------------------------------------------------------------


@main.group()
def sandbox() -> None:
    """Play the customer on a running server's sandbox channel."""


@sandbox.command("message")
@click.argument("text")
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="The running `wasession serve`."
)
@click.option("--wa-id", default="15550001111", show_default=True, help="The customer's WhatsApp id.")
@click.option("--name", default="Ana Silva", show_default=True, help="The customer's profile name.")
@click.pass_context
def sandbox_message(ctx: click.Context, text: str, url: str, wa_id: str, name: str) -> None:
    import httpx

    from wasession.sandbox.bodies import customer_webhook
    from wasession.store import channels as channel_store

    runtime = _runtime(ctx)
    try:
        with runtime.db.read() as conn:
            channel = next((c for c in channel_store.list_all(conn) if c.sandbox), None)
            if channel is None:
                raise click.ClickException(
                    "there is no sandbox channel; start `wasession serve` once to create it"
                )
            secrets = channel_store.secrets_of(conn, runtime.box, channel.id)
        raw, headers = customer_webhook(
            channel.phone_number_id, secrets.app_secret, wa_id=wa_id, name=name, text=text, at=runtime.clock.now()
        )
    finally:
        runtime.stop()
    try:
        response = httpx.post(
            url.rstrip("/") + "/webhooks/whatsapp", content=raw, headers=headers, timeout=10
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from exc
    if response.status_code >= 300:
        raise click.ClickException(f"the server answered {response.status_code}: {response.text}")
    click.echo(f"{name} ({wa_id}) wrote {text!r} on the sandbox channel")


def _pairs(items: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write settings as KEY=VALUE, e.g. reminder_after_hours=20")
        out[key.strip()] = value
    return out


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- webhooks: the raw webhook log (issue 3) --------------------------------------------------------------


@main.group()
def webhooks() -> None:
    """The raw webhook log: unroutable bodies, retention, re-processing."""


@webhooks.command("unroutable")
@click.option("--limit", default=100, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def webhooks_unroutable(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Bodies for phone_number_ids no channel claims (answered 2xx so Meta does not retry them)."""
    from wasession.ingest import logged_bodies

    runtime = _runtime(ctx)
    try:
        rows = logged_bodies(runtime.ctx, unroutable_only=True, limit=limit)
    finally:
        runtime.stop()
    if as_json:
        items = [
            {"id": r.id, "received_at": r.received_at.isoformat(), "phone_number_ids": r.unroutable_ids}
            for r in rows
        ]
        click.echo(json.dumps(items, indent=2))
        return
    if not rows:
        click.echo("no unroutable webhooks")
    for r in rows:
        click.echo(f"{r.id:>8}  {r.received_at.isoformat()}  phone_number_id {', '.join(r.unroutable_ids)}")


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

    runtime = _runtime(ctx)
    try:
        keep = days if days is not None else runtime.settings.webhook_retention_days
        if keep < 1:
            raise click.BadParameter(f"must be at least 1; got {keep}", param_hint="--days")
        removed = prune_webhook_log(runtime.ctx, keep)
    finally:
        runtime.stop()
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
    runtime = _runtime(ctx)
    done = errors = 0
    try:
        for result in reprocess_logged(runtime.ingestor, since=since_at, log_id=log_id, errors_only=errors_only):
            done += 1
            if result.error:
                errors += 1
                click.echo(f"{result.log_id}: {result.outcome()}", err=True)
    finally:
        runtime.stop()
    click.echo(f"reprocessed {done} webhook bodies, {errors} with errors")
    if errors:
        ctx.exit(1)


# -- users: dashboard admins (issue 4) -------------------------------------------------------------------


@main.group()
def users() -> None:
    """Dashboard users."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--workspace", default="default", show_default=True, help="Created if it does not exist.")
@click.option(
    "--password",
    envvar="WASESSION_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Read from WASESSION_ADMIN_PASSWORD, else prompted for (never pass it on the command line).",
)
@click.pass_context
def users_create(ctx: click.Context, username: str, workspace: str, password: str) -> None:
    """Create an admin user who can log in to the dashboard."""
    from wasession.services import users as user_service

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            user_service.create_user(runtime.ctx, username, password, workspace=workspace)
    finally:
        runtime.stop()
    click.echo(f"Created admin user {username!r} in workspace {workspace!r}; log in at /dashboard/login")


# -- workspaces and API keys (issue 4) -------------------------------------------------------------------


@main.group()
def workspaces() -> None:
    """Create and list workspaces."""


@workspaces.command("create")
@click.argument("name")
@click.pass_context
def workspaces_create(ctx: click.Context, name: str) -> None:
    from wasession.services import workspaces as workspace_service

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            created = workspace_service.create_workspace(runtime.ctx, name)
    finally:
        runtime.stop()
    click.echo(f"workspace {created.id} {created.name!r} created")


@workspaces.command("list")
@click.pass_context
def workspaces_list(ctx: click.Context) -> None:
    from wasession.services import workspaces as workspace_service

    runtime = _runtime(ctx)
    try:
        found = workspace_service.list_workspaces(runtime.ctx)
    finally:
        runtime.stop()
    for w in found:
        click.echo(f"{w.id:>4}  {w.name}")


@main.group()
def apikeys() -> None:
    """Create, list and revoke REST API keys (`Authorization: Bearer wsk_…`)."""


def _workspace_id(runtime: Any, name: str) -> int:
    from wasession.services import channels as channel_service
    from wasession.services import workspaces as workspace_service

    if name == channel_service.DEFAULT_WORKSPACE:
        return channel_service.default_workspace(runtime.ctx)
    return workspace_service.workspace_named(runtime.ctx, name).id


@apikeys.command("create")
@click.option("--workspace", default="default", show_default=True)
@click.option("--name", required=True, help="What the key is for, e.g. crm-sync.")
@click.pass_context
def apikeys_create(ctx: click.Context, workspace: str, name: str) -> None:
    from wasession.services import apikeys as key_service

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            created = key_service.create_key(runtime.ctx, workspace_id=_workspace_id(runtime, workspace), name=name)
    finally:
        runtime.stop()
    click.echo(f"API key {created.key.id} {created.key.name!r} for workspace {workspace!r}; shown only once:", err=True)
    click.echo(created.secret)


@apikeys.command("list")
@click.option("--workspace", default="default", show_default=True)
@click.pass_context
def apikeys_list(ctx: click.Context, workspace: str) -> None:
    from wasession.services import apikeys as key_service

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            keys = key_service.list_keys(runtime.ctx, workspace_id=_workspace_id(runtime, workspace))
    finally:
        runtime.stop()
    if not keys:
        click.echo(f"no API keys in workspace {workspace!r}: `wasession apikeys create --name NAME`")
    for k in keys:
        state = f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"
        used = k.last_used_at.isoformat() if k.last_used_at else "never used"
        click.echo(f"{k.id:>4}  {k.prefix}…  {k.name:<24} {state}, {used}")


@apikeys.command("revoke")
@click.argument("key_id", type=int)
@click.option("--workspace", default="default", show_default=True)
@click.pass_context
def apikeys_revoke(ctx: click.Context, key_id: int, workspace: str) -> None:
    from wasession.services import apikeys as key_service

    runtime = _runtime(ctx)
    try:
        with _user_errors():
            key_service.revoke_key(runtime.ctx, key_id, workspace_id=_workspace_id(runtime, workspace))
    finally:
        runtime.stop()
    click.echo(f"API key {key_id} revoked")

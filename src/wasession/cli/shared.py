"""What every command shares: settings from flags and environment, opening the runtime, and turning
errors into one line and an exit code instead of a traceback."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wasession.config import Settings, StartupError, load_settings

# Every command module imports this one, and `wasession` imports every command module to list them:
# the runtime (the database layer, ingest) and the services are imported by the commands that use
# them, so `wasession --help` and each command's start pay only for what that command runs.
if TYPE_CHECKING:
    from wasession.runtime import Runtime
    from wasession.services.channels import Channel

T = TypeVar("T")

# Exit code for a configuration the service cannot start with (click uses 2 for usage errors too).
EXIT_CONFIG = 2


class Group(click.Group):
    """A command group whose StartupErrors print as `error: <setting>: <problem>; <fix>` and exit 2;
    the global `--debug` shows the traceback as well. Its help ends with where the data lives."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if ctx.parent is None:
            try:
                home = load_settings().home_dir()
            except StartupError:
                home = None
            formatter.write_paragraph()
            formatter.write_text(
                f"Data folder (database and secret key unless WASESSION_DATABASE_URL and WASESSION_SECRET_KEY "
                f"are set): {home or 'unset'}; change it with WASESSION_HOME. `wasession paths` shows them all."
            )
        super().format_epilog(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StartupError as exc:
            if (ctx.find_root().obj or {}).get("debug"):
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_CONFIG)


def settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Flags given on the command line over WASESSION_* variables over defaults."""
    obj = ctx.find_root().obj or {}
    values = {k: v for k, v in {**obj, **overrides}.items() if v is not None and k != "debug"}
    return load_settings(**values)


def open_runtime(ctx: click.Context, *, migrate_sqlite: bool = True, **kwargs: Any) -> Runtime:
    """A checked Runtime: the database reached, its schema current (SQLite is migrated in place) and
    the secret key proven against the stored credentials. It starts no thread."""
    from wasession.runtime import Runtime

    runtime = Runtime(settings(ctx), **kwargs)
    try:
        runtime.check_database()
        if runtime.key_created:
            click.echo(
                f"Created a new secret key in {runtime.key_file}; keep it: it decrypts the stored credentials.",
                err=True,
            )
        if runtime.db.is_sqlite and migrate_sqlite:
            runtime.migrate()
        elif not runtime.schema_current():
            raise StartupError(
                "WASESSION_DATABASE_URL", "the database schema is not current", "run `wasession migrate` first"
            )
        runtime.check_secret_key()
    except BaseException:
        runtime.stop()
        raise
    return runtime


@contextmanager
def runtime_for(ctx: click.Context, **kwargs: Any) -> Iterator[Runtime]:
    runtime = open_runtime(ctx, **kwargs)
    try:
        yield runtime
    finally:
        runtime.stop()


@contextmanager
def user_errors() -> Iterator[None]:
    """Errors a user caused end the command with their message and exit code 1, not a traceback."""
    from wasession.domain.errors import ValidationError
    from wasession.services.errors import ConflictError, NotFoundError, UpstreamError

    try:
        yield
    except (ValidationError, ConflictError, NotFoundError, UpstreamError) as exc:
        field = getattr(exc, "field", None)
        raise click.ClickException(f"{field}: {exc}" if field and not str(exc).startswith(field) else str(exc)) from exc


def with_field(field: str | None, message: str) -> str:
    """`field: message`, unless the message is led by `field: ` already: never "session_timeout:
    session_timeout: …"."""
    return message if not field or message.startswith(f"{field}: ") else f"{field}: {message}"


def pairs(items: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write settings as KEY=VALUE, e.g. reminder_after_hours=20")
        out[key.strip()] = value
    return out


# Options every command accepts after its name as well as before it (`wasession serve --database-url …`
# and `wasession --database-url … serve` mean the same): name, help.
GLOBAL_OPTIONS: dict[str, str] = {
    "database_url": "sqlite:///path/file.sqlite3 or postgresql://user@host/db "
    "[env WASESSION_DATABASE_URL; default: wasession.sqlite3 in the data folder]",
    "home": "The data folder for the default database and the key file [env WASESSION_HOME; "
    "default: the platform's user data folder, e.g. ~/.local/share/wasession].",
}


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        root = ctx.find_root()
        root.obj = root.obj or {}
        root.obj[param.name] = value


def add_global_options(command: click.Command) -> None:
    """Give `command` and every subcommand under it the global options, stored where the root's go."""
    for name, text in GLOBAL_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if not any(flag in p.opts for p in command.params):
            command.params.append(click.Option([flag, name], expose_value=False, callback=_remember, help=text))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)


def channel_ref(runtime: Runtime, ref: str) -> Channel:
    """The channel `ref` names (id, name or phone_number_id), or a one-line error."""
    from wasession.services.channel_lookup import resolve_channel

    with user_errors():
        return resolve_channel(runtime.ctx, ref)


CHANNEL_HELP = "CHANNEL is a channel's id, its name or its phone_number_id."


def workspace_id_named(runtime: Runtime, name: str) -> int:
    """The id of the workspace called `name` (the default workspace is created on first use)."""
    from wasession.services import channels as channel_service
    from wasession.services import workspaces as workspace_service

    if name == channel_service.DEFAULT_WORKSPACE:
        return channel_service.default_workspace(runtime.ctx)
    with user_errors():
        return workspace_service.workspace_named(runtime.ctx, name).id


def emit(
    items: Sequence[T], as_json: bool, *, empty: str, line: Callable[[T], str], row: Callable[[T], object]
) -> None:
    """A listing as `--json` (one array of `row(item)`) or as text lines, with `empty` when there is none."""
    if as_json:
        click.echo(json.dumps([row(i) for i in items], indent=2))
        return
    if not items:
        click.echo(empty)
    for item in items:
        click.echo(line(item))

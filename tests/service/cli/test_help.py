"""Every command and every option of the CLI explains itself in `--help`."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from wasession.cli import main


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(main))


def test_the_walk_reaches_the_commands_of_every_group() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"serve", "paths", "channels rotate", "users reset-password", "policy set", "sandbox message"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "wasession" for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"`wasession {' '.join(path)}` has no help text"
    with click.Context(command, info_name=path[-1] if path else "wasession") as ctx:
        for param in command.get_params(ctx):
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"`wasession {' '.join(path)}` option {param.opts} has no help"
    shown = CliRunner().invoke(main, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    assert command.help.split("\n")[0].strip()[:30] in " ".join(shown.output.split())

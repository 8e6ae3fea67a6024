"""`wasession forwards` through the CLI's main(): every command and option, errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from wasession.cli import main
from wasession.cli.forwards import forwards

SECRET = "a-crm-secret-of-its-own"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    monkeypatch.delenv("WASESSION_FORWARD_SECRET", raising=False)
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    for name, value in (("ACCESS_TOKEN", "t"), ("APP_SECRET", "s"), ("VERIFY_TOKEN", "v")):
        monkeypatch.setenv(f"WASESSION_{name}", value)
    runner = CliRunner()
    added = runner.invoke(
        main, ["channels", "add", "--skip-token-check", "--name", "Shop", "--phone-number-id", "123456"]
    )
    assert added.exit_code == 0, added.output
    return runner


def run(cli: CliRunner, *args: str, **kwargs: str) -> Result:
    return cli.invoke(main, ["forwards", *args], env=kwargs or None)


def test_add_list_pause_resume_replay_deliveries_remove(cli: CliRunner) -> None:
    added = run(cli, "add", "1", "http://127.0.0.1:9/hook", "--field", "messages", "--field", "statuses")
    assert added.exit_code == 0, added.output
    assert "forward 1 added to channel 1" in added.output
    signed = run(cli, "add", "1", "http://127.0.0.1:9/crm", "--description", "CRM", WASESSION_FORWARD_SECRET=SECRET)
    assert signed.exit_code == 0, signed.output
    listed = run(cli, "list", "1")
    assert "[messages,statuses]  Meta's signature" in listed.output
    assert "own secret" in listed.output and SECRET not in listed.output
    as_json = run(cli, "list", "1", "--json")
    assert '"own_secret": true' in as_json.output and SECRET not in as_json.output
    assert "paused" in run(cli, "pause", "1", "1").output
    assert "active" in run(cli, "resume", "1", "1").output
    replayed = run(cli, "replay", "1", "1", "--from-id", "5")
    assert replayed.exit_code == 0 and "after log id 4" in replayed.output
    since = run(cli, "replay", "1", "1", "--since", "2026-01-01T00:00:00Z")
    assert since.exit_code == 0 and "after log id 0" in since.output
    assert "no deliveries yet" in run(cli, "deliveries", "1", "1", "--limit", "5").output
    assert "forward 2 removed" in run(cli, "remove", "1", "2").output
    assert "http://127.0.0.1:9/crm" not in run(cli, "list", "1").output


def test_mistakes_are_one_line_naming_what_is_wrong(cli: CliRunner) -> None:
    refused = run(cli, "add", "1", "http://10.0.0.8/hook")
    assert refused.exit_code == 1 and "url" in refused.output
    short = run(cli, "add", "1", "http://127.0.0.1:9/hook", "--secret", "short")
    assert short.exit_code == 1 and "secret" in short.output
    unknown = run(cli, "list", "7")
    assert unknown.exit_code == 1 and "channel 7 not found" in unknown.output
    assert run(cli, "pause", "1", "9").exit_code == 1
    both = run(cli, "replay", "1", "1", "--from-id", "2", "--since", "2026-01-01T00:00:00Z")
    assert both.exit_code == 2 and "exactly one" in both.output
    assert run(cli, "replay", "1", "1", "--since", "yesterday").exit_code == 2
    field = run(cli, "add", "1", "http://127.0.0.1:9/hook", "--field", "emails")
    assert field.exit_code == 2 and "emails" in field.output
    assert all("Traceback" not in r.output for r in (refused, short, unknown, both, field))


def test_every_command_has_help_text(cli: CliRunner) -> None:
    assert forwards.help
    for name, command in forwards.commands.items():
        assert command.help, name
        shown = run(cli, name, "--help")
        assert shown.exit_code == 0 and command.help.split("\n")[0][:30] in shown.output

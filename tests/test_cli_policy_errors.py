"""`wasession policy set` names every bad setting at once, one line each, exits 2 and saves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wasession.cli import main


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    return tmp_path


def test_policy_set_prints_every_bad_field_and_exits_2(db_env: Path) -> None:
    runner = CliRunner()
    args = ["--name", "Support", "--phone-number-id", "123456", "--access-token", "t", "--app-secret", "s"]
    added = runner.invoke(main, ["channels", "add", *args, "--verify-token", "v", "--set", "reminder_after_hours=20"])
    assert added.exit_code == 0, added.output
    bad = runner.invoke(
        main, ["policy", "set", "1", "reminder_after_hours=24", "session_timeout=0m", "timezone=Nowhere/Land"]
    )
    assert bad.exit_code == 2, bad.output
    lines = [line for line in bad.output.splitlines() if line.startswith("error: ")]
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "reminder_after_hours",
        "session_timeout",
        "timezone",
    ]
    assert "Traceback" not in bad.output and "Settings saved" not in bad.output
    assert '"reminder_after_hours": 20' in runner.invoke(main, ["policy", "show", "1"]).output

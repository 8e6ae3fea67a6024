"""R23 from the command line: `wasession policy set` takes and refuses automated_monthly_cap."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.process.cli.test_cli import db_env as db_env  # the CLI tests' temporary database and key
from wasession.cli import main


def test_policy_set_takes_the_cap_and_null_clears_it(db_env: Path) -> None:
    runner = CliRunner()
    credentials = ["--access-token", "tok", "--app-secret", "sec", "--verify-token", "ver"]
    added = runner.invoke(
        main, ["channels", "add", "--skip-token-check", "--name", "S", "--phone-number-id", "123456", *credentials]
    )
    assert added.exit_code == 0, added.output
    ok = runner.invoke(main, ["policy", "set", "1", "automated_monthly_cap=250"])
    assert ok.exit_code == 0 and '"automated_monthly_cap": 250' in ok.output
    bad = runner.invoke(main, ["policy", "set", "1", "automated_monthly_cap=-1"])
    assert bad.exit_code != 0 and "automated_monthly_cap must be a whole number from 0" in bad.output
    assert '"automated_monthly_cap": 250' in runner.invoke(main, ["policy", "show", "1"]).output
    cleared = runner.invoke(main, ["policy", "set", "1", "automated_monthly_cap=null"])
    assert cleared.exit_code == 0 and '"automated_monthly_cap": null' in cleared.output

"""Issue 23: no command creates a folder, database, key or workspace because of a typo; a channel is
named by id, name or number everywhere, an unknown one gets a suggestion; one field name per error.
Each through the real `wasession` process a user runs."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import cli_env, run_cli

REAL = {"WASESSION_ACCESS_TOKEN": "t", "WASESSION_APP_SECRET": "s", "WASESSION_VERIFY_TOKEN": "v"}


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("Created a new secret key")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_database_url_in_a_missing_folder_is_refused_creating_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    refused = run_cli(tmp_path, "--database-url", f"sqlite:///{missing}/x.db", "channels", "list")
    assert refused.returncode == 2, refused.stdout
    assert _one_line(refused.stderr) == (
        f"error: WASESSION_DATABASE_URL: the folder {missing} does not exist; check the path for a typo, "
        "or create the folder first: nothing is created for a folder that is not there"
    )
    assert not missing.exists()


def test_a_workspace_typo_is_refused_naming_the_near_miss(tmp_path: Path) -> None:
    env = cli_env(tmp_path, WASESSION_ADMIN_PASSWORD="a-long-enough-password-1")
    refused = run_cli(tmp_path, "users", "add", "--username", "bob", "--workspace", "defualt", env=env)
    assert refused.returncode == 1
    assert _one_line(refused.stderr) == "Error: workspace 'defualt' not found; did you mean 'default'?"
    listed = run_cli(tmp_path, "workspaces", "list", env=env)
    assert "defualt" not in listed.stdout
    made = run_cli(tmp_path, "users", "add", "--username", "bob", "--workspace", "acme", "--create-workspace", env=env)
    assert made.returncode == 0, made.stderr
    assert run_cli(tmp_path, "users", "add", "--username", "eve", "--workspace", "default", env=env).returncode == 0


def test_channels_by_id_name_or_number_everywhere_with_a_suggestion_and_a_checklist(tmp_path: Path) -> None:
    env = cli_env(tmp_path, **REAL)
    added = run_cli(
        tmp_path,
        "channels",
        "add",
        "--skip-token-check",
        "--name",
        "Support Desk",
        "--phone-number-id",
        "106540352242922",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert "Callback URL: http://127.0.0.1:8000/webhooks/whatsapp" in added.stdout
    assert "subscribe to `messages`" in added.stdout
    assert "WASESSION_PUBLIC_URL" in added.stdout  # not HTTPS: says how
    for ref in ("1", "Support Desk", "support desk", "106540352242922"):
        listed = run_cli(tmp_path, "forwards", "list", ref, env=env)
        assert listed.returncode == 0, listed.stderr
        assert "forwards nothing" in listed.stdout
    unknown = run_cli(tmp_path, "forwards", "list", "Suport Desk", env=env)
    assert unknown.returncode == 1
    assert _one_line(unknown.stderr).endswith("did you mean 1 'Support Desk'?"), unknown.stderr
    unknown = run_cli(tmp_path, "policy", "set", "Suport Desk", "reminder_after_hours=3", env=env)
    assert _one_line(unknown.stderr).endswith("did you mean 1 'Support Desk'?"), unknown.stderr


def test_one_field_name_per_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path, **REAL)
    assert (
        run_cli(
            tmp_path, "channels", "add", "--skip-token-check", "--name", "S", "--phone-number-id", "1065", env=env
        ).returncode
        == 0
    )
    refused = run_cli(tmp_path, "policy", "set", "1", "session_timeout=5y", env=env)
    assert refused.returncode != 0
    line = _one_line(refused.stderr)
    assert line.count("session_timeout") == 1, line
    assert line.startswith("error: session_timeout: '5y' is not a duration"), line

"""A well-formed but wrong WASESSION_SECRET_KEY is refused at start, before `serve` reports ready
(it used to start and then answer every webhook 500)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import cli_env, free_port, run_cli
from wasession.store.secrets import SecretBox


def test_serve_refuses_a_key_that_does_not_decrypt_the_stored_credentials(tmp_path: Path) -> None:
    right = cli_env(
        tmp_path,
        WASESSION_SECRET_KEY=SecretBox.generate_key(),
        WASESSION_ACCESS_TOKEN="token",
        WASESSION_APP_SECRET="secret",
        WASESSION_VERIFY_TOKEN="verify",
    )
    added = run_cli(
        tmp_path, "channels", "add", "--skip-token-check", "--name", "Support", "--phone-number-id", "1234", env=right
    )
    assert added.returncode == 0, added.stderr

    wrong = {**right, "WASESSION_SECRET_KEY": SecretBox.generate_key()}
    refused = run_cli(tmp_path, "serve", "--port", str(free_port()), env=wrong, timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: WASESSION_SECRET_KEY: it does not decrypt the stored channel credentials; ")
    assert "Uvicorn running" not in refused.stdout + refused.stderr  # it never served

    still = run_cli(tmp_path, "channels", "list", env=right)
    assert still.returncode == 0 and "Support" in still.stdout  # the right key still works


def test_the_check_passes_on_an_empty_database(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "apikeys", "list", env=cli_env(tmp_path, WASESSION_SECRET_KEY=SecretBox.generate_key()))
    assert result.returncode == 0, result.stderr

"""`wasession workspaces` and `wasession apikeys`: the printed key works against the API once, until revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wasession.cli import main
from wasession.testing import Simulator


def test_workspace_and_key_lifecycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    runner = CliRunner()
    run = lambda *args: runner.invoke(main, ["--database-url", url, *args])  # noqa: E731
    assert run("workspaces", "create", "acme").exit_code == 0
    dup = run("workspaces", "create", "acme")
    assert dup.exit_code != 0 and "already exists" in dup.output
    created = run("apikeys", "create", "--workspace", "acme", "--name", "crm")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("wsk_")
    listed = run("apikeys", "list", "--workspace", "acme")
    assert "crm" in listed.output and "active" in listed.output and key not in listed.output
    missing = run("apikeys", "create", "--workspace", "nope", "--name", "x")
    assert missing.exit_code != 0 and "not found" in missing.output
    with Simulator(database_url=url) as sim:
        ok = sim.client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["name"] == "acme"
    key_id = listed.output.split()[0]
    assert run("apikeys", "revoke", "--workspace", "default", key_id).exit_code != 0  # another workspace's key
    assert run("apikeys", "revoke", "--workspace", "acme", key_id).exit_code == 0
    assert "revoked" in run("apikeys", "list", "--workspace", "acme").output
    with Simulator(database_url=url) as sim:
        assert sim.client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {key}"}).status_code == 401

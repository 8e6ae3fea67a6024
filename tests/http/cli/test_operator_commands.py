"""What an operator does from the command line, through `main()`: channels in a workspace, edited,
rotated and removed, named by id, name or phone_number_id; users with roles; the sandbox's port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.support.servers import answer_ok, serve
from wasession.cli import main
from wasession.config import load_settings
from wasession.runtime import Runtime
from wasession.services import users as user_service
from wasession.services.sandbox import ensure_sandbox_channel
from wasession.store import channels as channel_store

PASSWORD = "correct horse battery"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("WASESSION_DATABASE_URL", "WASESSION_SECRET_KEY", "WASESSION_PORT", "WASESSION_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WASESSION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WASESSION_ACCESS_TOKEN", "token-1")
    monkeypatch.setenv("WASESSION_APP_SECRET", "secret-1")
    monkeypatch.setenv("WASESSION_VERIFY_TOKEN", "verify-1")
    monkeypatch.setenv("WASESSION_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def cli(*args: str, ok: bool = True, **kwargs: Any) -> Result:
    result = CliRunner().invoke(main, list(args), **kwargs)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def runtime(home: Path) -> Iterator[Runtime]:
    cli("workspaces", "list")  # creates and migrates the database in the data folder
    rt = Runtime(load_settings())
    yield rt
    rt.stop()


def test_channels_add_into_a_workspace_with_key_value_settings(home: Path) -> None:
    cli("workspaces", "create", "acme")
    added = cli(
        "channels",
        "add",
        "--skip-token-check",
        "--name",
        "Support",
        "--phone-number-id",
        "106540352242922",
        "--workspace",
        "acme",
        "reminder_enabled=true",
        "reminder_after_hours=20",
    )
    assert "in workspace 'acme'" in added.output
    assert cli("channels", "list").output.rstrip().endswith("Support  [acme]")
    assert json.loads(cli("channels", "list", "--json").output)[0]["workspace"] == "acme"
    shown = cli("policy", "show", "Support")
    assert '"reminder_after_hours": 20' in shown.output and '"reminder_enabled": true' in shown.output
    missing = cli(
        "channels",
        "add",
        "--skip-token-check",
        "--name",
        "X",
        "--phone-number-id",
        "106540352242923",
        "--workspace",
        "nope",
        ok=False,
    )
    assert missing.exit_code == 1 and "workspace 'nope' not found" in missing.output


def test_the_old_set_style_is_accepted_with_a_deprecation_note(home: Path) -> None:
    added = cli(
        "channels",
        "add",
        "--skip-token-check",
        "--name",
        "S",
        "--phone-number-id",
        "106540352242922",
        "--set",
        "reminder_after_hours=21",
    )
    assert "--set is deprecated" in added.output
    assert '"reminder_after_hours": 21' in cli("policy", "show", "1").output


def test_a_channel_is_found_by_id_name_or_phone_number_id_and_an_ambiguous_name_lists_the_matches(home: Path) -> None:
    cli("channels", "add", "--skip-token-check", "--name", "Support", "--phone-number-id", "106540352242922")
    for ref in ("1", "support", "106540352242922"):
        assert '"session_timeout"' in cli("policy", "show", ref).output
    cli("policy", "set", "106540352242922", "reminder_after_hours=7")
    assert '"reminder_after_hours": 7' in cli("policy", "show", "Support").output
    cli("channels", "add", "--skip-token-check", "--name", "Support", "--phone-number-id", "106540352242933")
    ambiguous = cli("policy", "show", "Support", ok=False)
    assert ambiguous.exit_code == 1
    assert "'Support' names 2 channels: 1 (phone_number_id 106540352242922), 2 (phone_number_id 106540352242933)" in (
        ambiguous.output
    )
    unknown = cli("policy", "set", "Sales", "reminder_after_hours=3", ok=False)
    assert unknown.exit_code == 1 and "channel Sales not found" in unknown.output


def test_channels_edit_rotate_and_remove(runtime: Runtime) -> None:
    cli("channels", "add", "--skip-token-check", "--name", "Support", "--phone-number-id", "106540352242922")
    cli("channels", "edit", "Support", "--name", "Sales", "--rate-limit", "5", "--display-phone-number", "15551234567")
    with runtime.db.read() as conn:
        channel = channel_store.get(conn, 1)
        assert channel is not None and channel.name == "Sales" and channel.rate_limit_per_second == 5
        assert channel.display_phone_number == "15551234567"
    nothing = cli("channels", "edit", "Sales", ok=False)
    assert nothing.exit_code == 2 and "give at least one of --name" in nothing.output
    bad = cli("channels", "edit", "Sales", "--rate-limit", "0", ok=False)
    assert bad.exit_code == 1 and "rate_limit_per_second must be from 1 to 1000; got 0" in bad.output
    cli("channels", "rotate", "106540352242922", "--app-secret", "secret-2", "--access-token", "-", input="token-2\n")
    with runtime.db.read() as conn:
        secrets = channel_store.secrets_of(conn, runtime.box, 1)
    assert (secrets.access_token, secrets.app_secret, secrets.verify_token) == ("token-2", "secret-2", "verify-1")
    cli("channels", "rotate", "Sales", "--verify-token", "verify-2")
    with runtime.db.read() as conn:
        assert channel_store.secrets_of(conn, runtime.box, 1).verify_token == "verify-2"
    refused = cli("channels", "remove", "Sales", ok=False, input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    cli("channels", "remove", "Sales", "--yes")
    assert "no channels yet" in cli("channels", "list").output


def test_users_add_with_a_role_list_reset_password_and_delete(runtime: Runtime) -> None:
    cli("users", "add", "--username", "boss")
    cli("users", "add", "--username", "ana", "--role", "agent")
    cli("users", "create", "--username", "old-style")  # the earlier name of `users add`
    as_json = json.loads(cli("users", "list", "--json").output)
    assert [(u["username"], u["role"], u["workspace"]) for u in as_json][:2] == [
        ("boss", "admin", "default"),
        ("ana", "agent", "default"),
    ]
    listed = cli("users", "list").output.splitlines()
    assert [line.split()[1:3] for line in listed] == [["boss", "admin"], ["ana", "agent"], ["old-style", "admin"]]
    wrong = cli("users", "add", "--username", "x", "--role", "owner", ok=False)
    assert wrong.exit_code == 2 and "'owner' is not one of 'admin', 'agent'" in wrong.output
    login = user_service.authenticate(runtime.ctx, "ana", PASSWORD)
    assert login is not None and not login.session.is_admin
    cli("users", "reset-password", "ana", env={"WASESSION_ADMIN_PASSWORD": "a new long password"})
    assert user_service.session_for_token(runtime.ctx, login.token) is None, "the old login session must end"
    assert user_service.authenticate(runtime.ctx, "ana", PASSWORD) is None
    assert user_service.authenticate(runtime.ctx, "ana", "a new long password") is not None
    cli("users", "delete", "ana")
    assert "ana" not in cli("users", "list").output
    gone = cli("users", "delete", "ana", ok=False)
    assert gone.exit_code == 1 and "user 'ana' not found" in gone.output


def test_sandbox_message_goes_to_the_port_in_wasession_port(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = cli("sandbox", "message", "Hi", ok=False)
    assert lost.exit_code == 1
    assert f"there is no sandbox channel in {runtime.settings.safe_database_url()}" in lost.output
    ensure_sandbox_channel(runtime.ctx)
    with serve(answer_ok) as receiver:
        monkeypatch.setenv("WASESSION_PORT", str(receiver.port))
        cli("sandbox", "message", "Hi")
        with serve(answer_ok) as other:
            cli("sandbox", "message", "--port", str(other.port), "Hi again")
    posts = [r for r in receiver.requests if r.head["request-line"].startswith("POST")]
    assert [r.head["request-line"] for r in posts] == ["POST /webhooks/whatsapp HTTP/1.1"]
    assert b'"Hi"' in posts[0].body
    assert any(r.head["request-line"].startswith("POST /webhooks/whatsapp") for r in other.requests)

"""Issue 23: a real channel never runs on a fast clock, and a sped-up run leaves nothing in the future.
Real `serve` processes on real ports and one SQLite file; the CLI and the API as a user calls them."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.processes import HTTP, cli_env, run_cli, server_log, serving, start_serve, stop

REAL = {"WASESSION_ACCESS_TOKEN": "t", "WASESSION_APP_SECRET": "s", "WASESSION_VERIFY_TOKEN": "v"}
DEADLINE = 120.0  # real seconds, on a loaded machine


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "wasession.sqlite3")


def test_a_sped_up_server_refuses_a_real_channel_from_the_cli_the_api_and_behind_its_back(tmp_path: Path) -> None:
    env = cli_env(tmp_path, **REAL)
    (tmp_path / "serve.log").write_text("")
    proc, url = start_serve(tmp_path, "--sandbox-speed", "60", env=env)
    try:
        added = run_cli(tmp_path, "channels", "add", "--name", "Real", "--phone-number-id", "123456", env=env)
        assert added.returncode != 0, added.stdout
        lines = added.stderr.strip().splitlines()
        assert len(lines) == 1, added.stderr
        assert "60 times faster than real time (--sandbox-speed)" in lines[0], lines[0]
        assert "stop that server" in lines[0]

        key = run_cli(tmp_path, "apikeys", "create", "--name", "t", env=env).stdout.strip()
        answer = HTTP.post(
            url + "/api/v1/channels",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "name": "Real",
                "phone_number_id": "123456",
                "access_token": "t",
                "app_secret": "s",
                "verify_token": "v",
            },
            timeout=10,
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "sandbox_speed"

        with _db(tmp_path) as db:  # behind its back: a row no check saw
            db.execute(
                "INSERT INTO channels (workspace_id, name, phone_number_id, display_phone_number, access_token_enc,"
                " app_secret_enc, verify_token_enc, sandbox, rate_limit_per_second, policy, policy_updated_at,"
                " created_at) SELECT workspace_id, 'Real', '123456', '', access_token_enc, app_secret_enc,"
                " verify_token_enc, 0, 80, policy, policy_updated_at, created_at FROM channels WHERE id = 1"
            )
        code = proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            stop(proc)
    log = server_log(tmp_path)
    assert code == 3, log
    assert "channel 2 'Real' is not a sandbox channel, and this server runs 60 times faster" in log, log
    with _db(tmp_path) as db:  # the heartbeat is gone: the CLI may add real channels again
        assert db.execute("SELECT count(*) FROM fast_clocks").fetchone() == (0,)


def _closed_session(url: str, key: str, folder: Path) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        items = HTTP.get(url + "/api/v1/sessions", headers=headers, timeout=10).json()["items"]
        if items and items[0]["status"] == "closed":
            return
        time.sleep(0.2)  # polling a real server running on its own accelerated clock
    raise AssertionError(f"the sandbox session did not close:\n{server_log(folder)}")


def _latest_times(folder: Path) -> list[datetime]:
    with _db(folder) as db:
        rows = db.execute(
            "SELECT max(opened_at), max(closed_at), max(last_customer_at), max(last_message_at) FROM sessions"
            " UNION ALL SELECT max(sent_at), max(created_at), max(status_at), NULL FROM messages"
            " UNION ALL SELECT max(at), NULL, NULL, NULL FROM events WHERE channel_id IS NOT NULL"
        ).fetchall()
    return [datetime.fromisoformat(v).replace(tzinfo=UTC) for row in rows for v in row if v is not None]


def test_a_plain_restart_after_a_sped_up_run_leaves_nothing_in_the_future(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with serving(tmp_path, "--sandbox-speed", "3600", env=env) as url:
        key = run_cli(tmp_path, "apikeys", "create", "--name", "t", env=env).stdout.strip()
        said = run_cli(tmp_path, "sandbox", "message", "--url", url, "Hi", env=env)
        assert said.returncode == 0, said.stderr
        _closed_session(url, key, tmp_path)
    ahead = max(_latest_times(tmp_path)) - datetime.now(UTC)
    assert ahead > timedelta(minutes=30), "the sped-up run should have left its timeline ahead of real time"

    with serving(tmp_path, env=env) as url:
        assert "moved its timeline back" in server_log(tmp_path)
        assert max(_latest_times(tmp_path)) <= datetime.now(UTC)
        # The customer writes again: a new chat, not a "late" message filed into the closed one.
        said = run_cli(tmp_path, "sandbox", "message", "--url", url, "Back again", env=env)
        assert said.returncode == 0, said.stderr
        headers = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            items = HTTP.get(url + "/api/v1/sessions", headers=headers, timeout=10).json()["items"]
            if len(items) == 2:
                break
            time.sleep(0.2)  # the webhook is applied behind the ack
        assert sorted(i["status"] for i in items) == ["active", "closed"], items
    assert max(_latest_times(tmp_path)) <= datetime.now(UTC) + timedelta(seconds=1)

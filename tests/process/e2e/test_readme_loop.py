"""The README's quick start, as a new user runs it: `wasession serve`, `wasession sandbox message`,
then the reminder is delivered and the session closes by timeout. Real processes on a real port and
SQLite file; time moves through `serve --sandbox-speed`, the option the README names."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.processes import HTTP, cli_env, free_port, run_cli, server_log, serving
from wasession.domain.states import CloseReason, MessageKind, MessageStatus, SessionStatus

# Clock seconds per real second: the sandbox policy's 1-hour reminder comes 12 s after the message,
# its 2-hour timeout 24 s after it. Faster, a loaded machine can take a clock hour to send the reminder
# (at 1800, measured: queued 06:40, accepted 09:07), after the session closed.
SPEED = "300"
DEADLINE = 120.0  # seconds of real time for the whole loop on a loaded machine
DELIVERED = {MessageStatus.DELIVERED, MessageStatus.READ}


def _poll_session(url: str, key: str, folder: Path) -> dict[str, Any]:
    """The sandbox session once it is closed, or the last view when the deadline passes."""
    headers = {"Authorization": f"Bearer {key}"}
    last: dict[str, Any] = {}
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        page = HTTP.get(url + "/api/v1/sessions", headers=headers, timeout=10).json()
        if page["items"]:
            sid = page["items"][0]["id"]
            last = HTTP.get(f"{url}/api/v1/sessions/{sid}", headers=headers, timeout=10).json()
            reminders = [m for m in last["transcript"] if m["kind"] == MessageKind.REMINDER]
            if last["session"]["status"] == SessionStatus.CLOSED and (
                not reminders or reminders[0]["status"] not in (MessageStatus.PENDING, MessageStatus.SENDING)
            ):
                return last
        time.sleep(0.2)  # polling a real server running on its own accelerated clock
    raise AssertionError(f"the session did not close within {DEADLINE} s: {last}\n{server_log(folder)}")


def test_serve_then_sandbox_message_delivers_the_reminder_and_closes_by_timeout(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with serving(tmp_path, "--sandbox-speed", SPEED, env=env) as url:
        created = run_cli(tmp_path, "apikeys", "create", "--name", "readme-loop", env=env)
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        said = run_cli(tmp_path, "sandbox", "message", "--url", url, "Hi", env=env)
        assert said.returncode == 0, said.stderr + said.stdout

        detail = _poll_session(url, key, tmp_path)

    reminders = [m for m in detail["transcript"] if m["kind"] == MessageKind.REMINDER]
    assert len(reminders) == 1, detail["transcript"]
    reminder = reminders[0]
    assert reminder["status"] in DELIVERED, f"the sandbox reminder was not delivered: {reminder}"
    assert reminder["error_code"] is None
    session = detail["session"]
    assert session["close_reason"] == CloseReason.TIMEOUT
    types = [e["type"] for e in detail["timeline"]]
    assert "reminder_delivered" in types or "reminder_read" in types, types
    assert types.index("reminder_queued") < types.index("session_closed"), types
    # "Watch it ... in the log": serve's own lines for the reminder and the closure.
    log = server_log(tmp_path)
    sid = session["id"]
    assert f"session {sid} on 'Sandbox': reminder step 1 queued for sending" in log, log
    assert f"session {sid} on 'Sandbox': reminder message sent (accepted by WhatsApp)" in log, log
    assert f"session {sid} on 'Sandbox': closed (timeout;" in log, log


def test_sandbox_speed_is_refused_while_a_real_channel_exists(tmp_path: Path) -> None:
    env = cli_env(tmp_path, WASESSION_ACCESS_TOKEN="t", WASESSION_APP_SECRET="s", WASESSION_VERIFY_TOKEN="v")
    added = run_cli(
        tmp_path, "channels", "add", "--skip-token-check", "--name", "Real", "--phone-number-id", "123456", env=env
    )
    assert added.returncode == 0, added.stderr
    refused = run_cli(tmp_path, "serve", "--sandbox-speed", "60", "--port", str(free_port()), env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --sandbox-speed: "), refused.stderr
    assert "channel 1 'Real' is not a sandbox channel" in lines[0]
    listed = run_cli(tmp_path, "channels", "list", env=env)
    assert "(sandbox)" not in listed.stdout  # refused before the sandbox channel was created

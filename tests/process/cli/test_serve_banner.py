"""`serve` says, in plain words, where the dashboard, the webhook and the data are and what to run
next; its logs are text for people when asked (or at a terminal) and library noise stays out."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import free_port, serving


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASESSION_")}
    env.update(HOME=str(tmp / "user"), WASESSION_HOME=str(tmp / "home"), **extra)
    return env


def test_the_banner_names_the_urls_the_data_folder_the_sandbox_command_and_the_missing_admin(tmp_path: Path) -> None:
    env = _env(tmp_path, WASESSION_LOG_FORMAT="text")
    database = f"sqlite:///{tmp_path / 'db' / 'own.sqlite3'}"
    (tmp_path / "db").mkdir()  # a typed URL's folder is never created (issue 23)
    with serving(tmp_path, "--database-url", database, env=env) as url:  # a global option after `serve`
        pass
    log = (tmp_path / "serve.log").read_text()
    home = tmp_path / "home"
    assert f"wasession is starting; sqlite database: {database}" in log, log
    assert f"  Dashboard:    {url}/dashboard" in log
    assert f"  Webhook URL:  {url}/webhooks/whatsapp" in log
    assert f"  Data folder:  {home}" in log
    # The tests run serve as `python -m wasession`; the commands carry what they need to find its database.
    command = f"{sys.executable} -m wasession --home {home} --database-url {database}"
    assert f"create an admin with  {command} users add --username admin" in log
    assert f"    {command} sandbox message --url {url} 'Hello!'" in log
    assert "setup plugin" not in log and "Context impl" not in log, "alembic's start-up chatter reached the log"
    assert '{"ts"' not in log, "text was asked for, JSON was written"


def test_with_an_admin_the_banner_does_not_ask_for_one(tmp_path: Path) -> None:
    env = _env(tmp_path, WASESSION_ADMIN_PASSWORD="correct horse battery")
    made = subprocess.run(
        [sys.executable, "-m", "wasession", "users", "add", "--username", "admin"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr
    with serving(tmp_path, "--log-format", "json", env=env):
        pass
    log = (tmp_path / "serve.log").read_text()
    assert "Dashboard:" in log and "create an admin" not in log
    assert '"logger": "uvicorn.error"' in log  # --log-format json: one object a line


def test_at_a_terminal_serve_prints_the_banner_and_text_logs(tmp_path: Path) -> None:
    port = free_port()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasession", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 180
        while b"Application startup complete" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)  # a real process's output, not simulated time
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.close(leader)
    text = seen.decode(errors="replace")
    assert f"Dashboard:    http://127.0.0.1:{port}/dashboard" in text, text
    assert "INFO uvicorn.error: Application startup complete" in text, "a terminal gets text logs"
    assert '{"ts"' not in text

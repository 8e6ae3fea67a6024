"""The command line, including `serve` as a real process on a real port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from tests.support.processes import HTTP
from wasession.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    return tmp_path


def test_demo_prints_a_timeline_a_person_can_follow() -> None:
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in (
        "Ana Silva",
        "session opened",
        "customer wrote",
        "agent replied",
        "reminder accepted by WhatsApp",
        "reminder delivered",
        "session closed (timeout)",
        "settings saved: session_timeout=PT6H, reminder_after_hours=4",
        "Hi Ana! Still there? Acme is happy to help.",
        # policy v2 (issue 13): a three-step ladder, a snooze and the closing message
        "Dana Reis      reminder step 3 due: queued for sending",
        "Last reminder: the quote is valid until tomorrow.",
        "agent snoozed the session until Mon 13:20",
        "Eva Lima       reminder step 1 skipped (snoozed)",
        "Thanks Dana, we are closing this chat. Write any time!",
        "Eva Lima       closing message queued (template)",
    ):
        assert expected in out, f"{expected!r} missing from the demo:\n{out}"


def test_channels_and_policy_commands(db_env: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        main,
        [
            "channels",
            "add",
            "--skip-token-check",
            "--name",
            "Support",
            "--phone-number-id",
            "123456",
            "--access-token",
            "tok",
            "--app-secret",
            "sec",
            "--verify-token",
            "ver",
            "--set",
            "reminder_enabled=true",
            "--set",
            "reminder_after_hours=20",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "channel 1 created" in added.output
    assert (db_env / "wasession.key").exists()  # created on first use, beside the database
    listed = runner.invoke(main, ["channels", "list"])
    assert "123456" in listed.output and "Support" in listed.output
    shown = runner.invoke(main, ["policy", "show", "1"])
    assert '"reminder_after_hours": 20' in shown.output
    bad = runner.invoke(main, ["policy", "set", "1", "reminder_after_hours=24"])
    assert bad.exit_code != 0 and "reminder_after_hours" in bad.output
    assert '"reminder_after_hours": 20' in runner.invoke(main, ["policy", "show", "1"]).output
    ok = runner.invoke(main, ["policy", "set", "1", "session_timeout=20h30m"])
    assert ok.exit_code == 0 and "Settings saved successfully" in ok.output and '"PT20H30M"' in ok.output
    clash = runner.invoke(main, ["policy", "set", "1", "session_timeout=1h30m"])  # the 20 h reminder could never go
    assert clash.exit_code != 0 and "could never go out" in clash.output
    ladder = runner.invoke(
        main, ["policy", "set", "1", 'reminder_steps=[{"after": "1h"}, {"before_window_closes": "4h"}]']
    )
    assert ladder.exit_code == 0, ladder.output
    assert '"before_window_closes": "PT4H"' in ladder.output and '"reminder_after_hours": 1' in ladder.output
    hours = runner.invoke(main, ["policy", "set", "1", 'business_hours={"mon-fri": ["09:00-18:00"]}'])
    assert hours.exit_code == 0 and '"fri": [' in hours.output
    garbage = runner.invoke(main, ["policy", "set", "1", "no-equals-sign"])
    assert garbage.exit_code != 0 and "KEY=VALUE" in garbage.output
    missing = runner.invoke(main, ["policy", "show", "99"])
    assert missing.exit_code != 0 and "channel 99 not found" in missing.output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "WASESSION_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    env.pop("WASESSION_SECRET_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasession", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"serve exited early:\n{proc.stdout.read() if proc.stdout else ''}")
            try:
                if HTTP.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)  # waiting for a real server to bind, not simulating time
        else:
            pytest.fail("serve did not answer /healthz within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_answers_health_and_runs_the_sandbox(served: str, tmp_path: Path) -> None:
    assert HTTP.get(served + "/healthz").json()["status"] == "ok"
    ready = HTTP.get(served + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["migrations"] == "current"
    env = {**os.environ, "WASESSION_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    said = subprocess.run(
        [
            sys.executable,
            "-m",
            "wasession",
            "sandbox",
            "message",
            "--url",
            served,
            "Hello from the sandbox",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert said.returncode == 0, said.stderr + said.stdout
    assert "wrote 'Hello from the sandbox'" in said.stdout


def test_an_admin_command_starts_no_thread_and_builds_no_workers(db_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    runner = CliRunner()
    assert runner.invoke(main, ["apikeys", "create", "--name", "first"]).exit_code == 0  # migrates the file
    started: list[str] = []
    pools: list[object] = []
    original_start = threading.Thread.start
    original_pool: Any = ThreadPoolExecutor.__init__

    def start(thread: threading.Thread) -> None:
        started.append(thread.name)
        original_start(thread)

    def pool(executor: ThreadPoolExecutor, *args: object, **kwargs: object) -> None:
        pools.append(executor)
        original_pool(executor, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", start)
    monkeypatch.setattr(ThreadPoolExecutor, "__init__", pool)
    before = set(threading.enumerate())
    listed = runner.invoke(main, ["apikeys", "list"])
    assert listed.exit_code == 0 and "first" in listed.output, listed.output
    assert started == [] and pools == []  # no loop, no sender pool, no ingest thread
    assert set(threading.enumerate()) == before


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        out.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, (*prefix, name)))
    return out


def test_every_command_and_option_has_help_text() -> None:
    missing = [
        f"{' '.join(path)} {param.opts[0] if isinstance(param, click.Option) else ''}".strip()
        for path, command in [((), main), *_commands(main)]
        for param in [None, *command.params]
        if (param is None and not (command.help or "").strip())
        or (isinstance(param, click.Option) and not (param.help or "").strip())
    ]
    assert missing == []


def test_every_command_s_help_works_through_python_m_wasession(tmp_path: Path) -> None:
    """One subprocess runs `python -m wasession <command> --help` for every command, the way
    `python -m` does (runpy), and reports each exit code and description."""
    paths = [list(path) for path, _ in _commands(main)]
    assert len(paths) > 20 and ["users", "create"] in paths and ["sandbox", "message"] in paths
    script = (
        "import contextlib, io, json, runpy, sys\n"
        "out = {}\n"
        f"for path in {paths!r}:\n"
        "    sys.argv = ['wasession', *path, '--help']\n"
        "    buf = io.StringIO()\n"
        "    code = None\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n"
        "            runpy.run_module('wasession', run_name='__main__', alter_sys=True)\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    out[' '.join(path)] = [code, buf.getvalue()]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for path, (code, text) in results.items():
        assert code in (0, None), f"{path} --help exited {code}:\n{text}"
        lines = [line.strip() for line in text.splitlines()]
        assert lines[0].startswith(f"Usage: python -m wasession {path}"), text
        assert lines[2], f"{path} --help has no description:\n{text}"


def test_policy_set_prints_every_bad_field_and_exits_2(db_env: Path) -> None:
    runner = CliRunner()
    args = ["--name", "Support", "--phone-number-id", "123456", "--access-token", "t", "--app-secret", "s"]
    added = runner.invoke(
        main,
        ["channels", "add", "--skip-token-check", *args, "--verify-token", "v", "--set", "reminder_after_hours=20"],
    )
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


def _imported(tmp_path: Path, code: str) -> set[str]:
    """The modules a fresh interpreter holds after `code`, which runs with sys.argv as the CLI's."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    env = {**os.environ, "WASESSION_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.sqlite3'}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_each_process_imports_only_what_it_runs(tmp_path: Path) -> None:
    """Every command, `serve` and serve's apply process start a Python process: its imports are most of
    what it costs to start (issue 24). The help imports no database layer, an admin command no
    workers, engines or HTTP client, and the apply process none of the workers it does not run (it runs
    the apply queue and the due loop)."""
    run = (
        "import runpy\nsys.argv = ['wasession', {args}]\n"
        "try:\n    runpy.run_module('wasession', run_name='__main__')\nexcept SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    workers = {"wasession.runtime.workers", "wasession.engine.due", "wasession.engine.chatwoot_sync", "httpx"}
    helped = _imported(tmp_path, run.format(args="'--help'"))
    assert "wasession.cli.serve" in helped and {"sqlalchemy", "wasession.runtime.core"}.isdisjoint(helped)
    listed = _imported(tmp_path, run.format(args="'apikeys', 'list'"))
    assert "wasession.runtime.core" in listed and (workers | {"wasession.server"}).isdisjoint(listed)
    child = _imported(tmp_path, "import wasession.runtime.apply_child")
    ran = {"wasession.ingest.apply_queue", "wasession.engine.due"}  # it applies and runs the due loop
    assert ran <= child and (workers - ran | {"wasession.sandbox.fake_cloud"}).isdisjoint(child)

"""One data folder: the database and the key live in WASESSION_HOME (or the user data folder),
never in the folder a command is run from, and any folder's command finds the server's database.
Real `wasession` processes with HOME and WASESSION_HOME in the test's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import HTTP, server_log, serving


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A new user's environment: no WASESSION_* setting at all, HOME in the test's folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASESSION_", "XDG_"))}
    env["HOME"] = str(tmp / "user")
    env.update(extra)
    return env


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasession", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_without_settings_the_database_and_key_go_to_the_user_data_folder_not_the_working_folder(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = _env(tmp_path)
    listed = _run(work, env, "channels", "list")
    assert listed.returncode == 0, listed.stderr
    assert _files(work) == set(), "a command created files in the folder it was run from"
    data = tmp_path / "user" / ".local" / "share" / "wasession"
    assert {"wasession.sqlite3", "wasession-webhooks.sqlite3", "wasession.key"} <= _files(data)
    assert _files(tmp_path) - {f"user/.local/share/wasession/{n}" for n in _files(data)} == set()
    paths = _run(work, env, "paths")
    assert f"data folder: {data}" in paths.stdout, paths.stdout
    assert f"webhook log: {data / 'wasession-webhooks.sqlite3'}" in paths.stdout  # a backup copies it too
    assert f"secret key:  {data / 'wasession.key'}" in paths.stdout


def test_wasession_home_holds_everything_and_a_command_from_another_folder_finds_the_servers_database(
    tmp_path: Path,
) -> None:
    home, elsewhere, server_dir = tmp_path / "home", tmp_path / "elsewhere", tmp_path / "server"
    elsewhere.mkdir()
    server_dir.mkdir()
    env = _env(tmp_path, WASESSION_HOME=str(home))
    with serving(server_dir, env=env) as url:
        said = _run(elsewhere, env, "sandbox", "message", "--url", url, "Hi from another folder")
        assert said.returncode == 0, said.stdout + said.stderr + server_log(server_dir)
        assert HTTP.get(url + "/healthz", timeout=10).status_code == 200
    assert _files(elsewhere) == set()
    assert _files(server_dir) == {"serve.log"}  # the test's own capture of serve's output
    assert {"wasession.sqlite3", "wasession.key"} <= _files(home)
    assert not (tmp_path / "user").exists(), "WASESSION_HOME set, yet the user data folder was used"


def test_a_new_key_is_never_created_inside_a_git_work_tree(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    env = _env(tmp_path, WASESSION_DATABASE_URL=f"sqlite:///{clone / 'wasession.sqlite3'}")
    refused = _run(clone, env, "channels", "list")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: WASESSION_SECRET_KEY: "), refused.stderr
    assert f"inside the git work tree {clone}" in lines[0]
    assert _files(clone) == set(), "nothing may be created when the start is refused"


def test_the_global_options_work_after_the_subcommand_as_well(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = _env(tmp_path)
    url = f"sqlite:///{tmp_path / 'db' / 'x.sqlite3'}"
    after = _run(work, env, "paths", "--database-url", url, "--home", str(tmp_path / "h"))
    before = _run(work, env, "--database-url", url, "--home", str(tmp_path / "h"), "paths")
    assert after.returncode == before.returncode == 0, after.stderr + before.stderr
    assert after.stdout == before.stdout
    assert f"database:    {url}" in after.stdout and f"data folder: {tmp_path / 'h'}" in after.stdout


def test_a_data_folder_that_cannot_be_created_is_one_line_naming_wasession_home(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refused = _run(tmp_path, _env(tmp_path, WASESSION_HOME=str(blocker / "home")), "channels", "list")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: WASESSION_HOME: cannot create "), refused.stderr
    assert "set WASESSION_HOME to a folder this user may write to" in lines[0]


def test_wasession_home_inside_a_git_work_tree_is_refused_too(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    refused = _run(tmp_path, _env(tmp_path, WASESSION_HOME=str(clone / "data")), "channels", "list")
    assert refused.returncode == 2 and f"inside the git work tree {clone}" in refused.stderr, refused.stderr


def test_the_platform_data_folder_is_used_even_in_a_home_kept_in_git(tmp_path: Path) -> None:
    (tmp_path / "user" / ".git").mkdir(parents=True)  # dotfiles: the whole home is a work tree
    listed = _run(tmp_path, _env(tmp_path), "channels", "list")
    assert listed.returncode == 0, listed.stderr
    assert (tmp_path / "user" / ".local" / "share" / "wasession" / "wasession.key").exists()

"""Every misconfiguration ends the real command with one line, `error: <setting>: <problem>; <fix>`,
and exit code 2, not a traceback; `--debug` adds the traceback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import cli_env, run_cli
from wasession.store.secrets import SecretBox

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/test"
MISSING_PG_DATABASE = "postgresql://postgres@127.0.0.1:5432/wasession_no_such_database"


def _one_error_line(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}:\n{result.stderr}{result.stdout}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith(f"error: {setting}: "), lines[0]
    assert "; " in lines[0], f"no fix given: {lines[0]}"
    return lines[0]


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """chattr +i: read-only even for root (the tests may run as root, whom file modes do not stop)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    marked: list[Path] = []

    def mark(path: Path) -> Path:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"this filesystem has no immutable flag: {done.stderr.strip()}")
        marked.append(path)
        return path

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    ("setting", "env", "expected"),
    [
        ("WASESSION_SECRET_KEY", {"WASESSION_SECRET_KEY": "not-a-fernet-key"}, "not a valid key"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": "mysql://u@db.example/x"}, "'mysql'"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": "not a url"}, "is not a database URL"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": UNREACHABLE_PG}, "Connection refused"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": MISSING_PG_DATABASE}, "does not exist"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": "sqlite://"}, "in-memory SQLite"),
        ("WASESSION_DATABASE_URL", {"WASESSION_DATABASE_URL": "sqlite:///:memory:"}, "in-memory SQLite"),
        ("WASESSION_SENDER_CONCURRENCY", {"WASESSION_SENDER_CONCURRENCY": "1"}, "greater than or equal to 2"),
        ("WASESSION_ENGINE_BATCH_SIZE", {"WASESSION_ENGINE_BATCH_SIZE": "lots"}, "'lots'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, setting: str, env: dict[str, str], expected: str) -> None:
    result = run_cli(tmp_path, "apikeys", "list", env=cli_env(tmp_path, **env))
    assert expected in _one_error_line(result, setting)


def test_a_port_that_is_not_a_number_stops_serve(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", env=cli_env(tmp_path, WASESSION_PORT="abc"))
    assert "'abc'" in _one_error_line(result, "WASESSION_PORT")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_stops_serve_in_one_line(tmp_path: Path, url: str) -> None:
    result = run_cli(tmp_path, "serve", "--database-url", url, env=cli_env(tmp_path))
    assert "use sqlite:///path/file.sqlite3" in _one_error_line(result, "WASESSION_DATABASE_URL")


def test_a_bad_metrics_port_stops_the_worker(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "worker", env=cli_env(tmp_path, WASESSION_METRICS_PORT="99999"))
    assert "99999" in _one_error_line(result, "WASESSION_METRICS_PORT")


def test_a_folder_where_the_sqlite_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    env = cli_env(tmp_path, WASESSION_DATABASE_URL=_sqlite(tmp_path / "db"))
    result = run_cli(tmp_path, "apikeys", "list", env=env)
    assert "is a folder" in _one_error_line(result, "WASESSION_DATABASE_URL")


def test_a_file_where_the_sqlite_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    url = _sqlite(tmp_path / "plain" / "db.sqlite3")
    result = run_cli(tmp_path, "apikeys", "list", env=cli_env(tmp_path, WASESSION_DATABASE_URL=url))
    assert "is a file, not a folder" in _one_error_line(result, "WASESSION_DATABASE_URL")


def test_a_file_that_is_not_a_sqlite_database(tmp_path: Path) -> None:
    (tmp_path / "notes.sqlite3").write_text("these are my notes\n" * 100)
    url = _sqlite(tmp_path / "notes.sqlite3")
    result = run_cli(tmp_path, "apikeys", "list", env=cli_env(tmp_path, WASESSION_DATABASE_URL=url))
    assert "not a database" in _one_error_line(result, "WASESSION_DATABASE_URL")
    assert (tmp_path / "notes.sqlite3").read_text().startswith("these are my notes")  # nothing changed


def test_a_read_only_sqlite_file(tmp_path: Path, immutable: Callable[[Path], Path]) -> None:
    env = cli_env(tmp_path, WASESSION_SECRET_KEY=SecretBox.generate_key())
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    for extra in ("wasession.sqlite3-wal", "wasession.sqlite3-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    immutable(tmp_path / "wasession.sqlite3")
    result = run_cli(tmp_path, "apikeys", "list", env=env)
    assert "readonly" in _one_error_line(result, "WASESSION_DATABASE_URL")


def test_a_read_only_sqlite_folder(tmp_path: Path, immutable: Callable[[Path], Path]) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    immutable(folder)
    url = _sqlite(folder / "w.sqlite3")
    env = cli_env(tmp_path, WASESSION_SECRET_KEY=SecretBox.generate_key(), WASESSION_DATABASE_URL=url)
    result = run_cli(tmp_path, "apikeys", "list", env=env)
    line = _one_error_line(result, "WASESSION_DATABASE_URL")
    assert "cannot create" in line or "unable to open database file" in line, line


def test_debug_shows_the_traceback_as_well(tmp_path: Path) -> None:
    env = cli_env(tmp_path, WASESSION_DATABASE_URL="mysql://u@db.example/x")
    result = run_cli(tmp_path, "--debug", "apikeys", "list", env=env)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: WASESSION_DATABASE_URL: ")

"""Real `wasession` processes for end-to-end tests: a command run to its end, or `serve` on a free
127.0.0.1 port, each with the test's temporary folder as working directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from tests.conftest import fresh_postgres_url
from wasession.cli import main
from wasession.runtime.core import new_secret_key

# One client for every request a test makes of a server it started: `httpx.get` builds a client, and with it
# an SSL context, on every call (about 27 ms of CPU); polling a starting `serve` ten or twenty times a second
# cost the test about as much CPU as the server's own start, and a test posting 300 webhooks 8 s. It is
# what `httpx.get` was, shared: no connection is kept alive (the servers are killed and restarted, on other
# ports) and no cookie is kept (each call stands alone, as before).
HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
HTTP.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))

START_TIMEOUT = 180.0  # seconds of real time: on a loaded machine, starting serve took over 60 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user: their own SQLite file in `folder`, no secret key set (the key
    file is created beside the database), nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASESSION_")}
    env["WASESSION_DATABASE_URL"] = f"sqlite:///{folder / 'wasession.sqlite3'}"
    env["WASESSION_HOME"] = str(folder / "home")  # never the developer's real data folder
    env.update(extra)
    return env


def run_cli(
    folder: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasession", *args],
        cwd=folder,
        env=dict(env) if env is not None else cli_env(folder),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def set_up_with_cli(*args: str, env: Mapping[str, str]) -> Result:
    """A CLI command that only sets up what a test's real processes then use (migrate, a channel, an API key),
    run in this process by click's runner with `env` as the whole WASESSION_ environment, as a child would
    have it: a command's own process cost about 0.6 s of CPU. Tests of the commands themselves start them
    (`run_cli`, tests/process/cli)."""
    environ: dict[str, str | None] = {k: None for k in os.environ if k.startswith("WASESSION_")}
    environ.update(env)
    done = CliRunner().invoke(main, list(args), env=environ)
    assert done.exit_code == 0, done.output
    return done


def start_serve(folder: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`wasession serve --port <free> *args`, once it answers /healthz: the process and its base URL.
    Its output is appended to serve.log in `folder`."""
    port = free_port()
    with (folder / "serve.log").open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wasession", "serve", "--port", str(port), *args],
            cwd=folder,
            env=dict(env) if env is not None else cli_env(folder),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early ({proc.returncode}):\n{server_log(folder)}")
        try:
            if HTTP.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"serve did not answer /healthz within {START_TIMEOUT} s:\n{server_log(folder)}")
        time.sleep(0.1)  # waiting for a real server to bind, not simulating time


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def serving(folder: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`wasession serve --port <free> *args` until the block ends; yields its base URL."""
    (folder / "serve.log").write_text("")
    proc, url = start_serve(folder, *args, env=env)
    try:
        yield url
    finally:
        stop(proc)


def server_log(folder: Path) -> str:
    path = folder / "serve.log"
    return path.read_text()[-4000:] if path.exists() else ""


def local_serve_env(database: str, tmp_path: Path, app_secret: str) -> Iterator[dict[str, str]]:
    """The environment of a real `serve` whose channel signs with `app_secret` and whose outbound calls may
    reach 127.0.0.1, on SQLite or on a fresh PostgreSQL schema (`database` is a fixture's param)."""
    base = cli_env(
        tmp_path,
        WASESSION_ACCESS_TOKEN="token",
        WASESSION_APP_SECRET=app_secret,
        WASESSION_VERIFY_TOKEN="verify",
        WASESSION_OUTBOUND_ALLOW="127.0.0.1",
        WASESSION_SECRET_KEY=new_secret_key(),
    )
    if database == "sqlite":
        yield base
    else:
        for url in fresh_postgres_url():
            yield {**base, "WASESSION_DATABASE_URL": url}


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    """Poll real processes until `check` holds (wall clock: this is about sockets and processes, not
    simulated time); fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")

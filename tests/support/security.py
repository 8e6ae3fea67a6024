"""Fixtures for the security tests: a Simulator whose event webhooks may reach 127.0.0.1 (the
operator's allowlist, as a LAN CRM would need) with an API key for its default workspace; and a real
`wasession serve` process on 127.0.0.1:<free port> (SQLite in a temporary directory), raw sockets to
talk to it badly, and the server's RSS read from /proc."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import HTTP, wait_until
from wasession.config import Settings
from wasession.runtime import Runtime
from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.store.secrets import SecretBox
from wasession.testing import Simulator
from wasession.testing.harness import free_port

SECRET = "whsec-0123456789abcdef"


@dataclass
class Tenant:
    sim: Simulator
    workspace_id: int
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        body = kwargs.get("json")
        if method == "POST" and path == "/channels" and isinstance(body, dict):
            self.sim.meta_number(str(body.get("phone_number_id")), str(body.get("access_token")))  # the tenant's own
        response: httpx.Response = self.sim.client.request(method, "/api/v1" + path, headers=headers, **kwargs)
        return response

    def add_hook(self, url: str) -> dict[str, Any]:
        response = self.call("POST", "/event-webhooks", json={"url": url, "secret": SECRET})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def deliveries(self, hook_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", f"/event-webhooks/{hook_id}/deliveries").json()["items"]
        return items


def tenant_of(sim: Simulator) -> Tenant:
    ws = channel_service.default_workspace(sim.runtime.ctx)
    return Tenant(sim, ws, key_service.create_key(sim.runtime.ctx, workspace_id=ws, name="t").secret)


@pytest.fixture
def local_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        yield tenant_of(sim)


@pytest.fixture
def default_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.delenv("WASESSION_OUTBOUND_ALLOW", raising=False)
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        yield tenant_of(sim)


BIN = Path(sys.executable).with_name("wasession")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    key: str
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the server process")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


def healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        return HTTP.get(url + "/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """Whatever the server answers until it closes or `timeout` passes without a byte."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                head, _, body = data.partition(b"\r\n\r\n")
                length = [h for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _server_starter(folder: Path, started: list[Server]) -> Callable[..., Server]:
    def start(nofile: int | None = None, **env: str) -> Server:
        url = f"sqlite:///{folder / 'front.sqlite3'}"
        secret = SecretBox.generate_key()
        runtime = Runtime(Settings(database_url=url, secret_key=secret))
        try:
            runtime.migrate()
            key = key_service.create_key(
                runtime.ctx, workspace_id=channel_service.default_workspace(runtime.ctx), name="t"
            )
        finally:
            runtime.stop()
        port = free_port()
        log_file = folder / f"serve-{port}.log"

        def limit_files() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(log_file, "wb") as out:
            proc = subprocess.Popen(
                [str(BIN), "serve", "--no-sandbox", "--host", "127.0.0.1", "--port", str(port)],
                env={
                    **os.environ,
                    "WASESSION_DATABASE_URL": url,
                    "WASESSION_SECRET_KEY": secret,
                    "WASESSION_LOG_FORMAT": "json",
                    "WASESSION_SENDER_CONCURRENCY": "2",
                    **env,
                },
                stdout=out,
                stderr=out,
                preexec_fn=limit_files,
            )
        server = Server(proc, port, key.secret, log_file)
        started.append(server)
        try:
            wait_until("the server to answer /healthz", lambda: proc.poll() is None and healthy(server.url), 90)
        except AssertionError:
            raise AssertionError(f"serve did not start:\n{server.log()[-3000:]}") from None
        return server

    return start


def _stop_all(started: list[Server]) -> None:
    for server in started:
        server.proc.terminate()
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(5)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """`start(nofile=None, **env)`: a `serve --no-sandbox` of the test's own, stopped after it."""
    started: list[Server] = []
    yield _server_starter(tmp_path, started)
    _stop_all(started)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `serve --no-sandbox` with the default settings for a module whose tests only send it requests
    and compare what it answers (starting a server costs a few CPU seconds)."""
    started: list[Server] = []
    try:
        yield _server_starter(tmp_path_factory.mktemp("server"), started)()
    finally:
        _stop_all(started)

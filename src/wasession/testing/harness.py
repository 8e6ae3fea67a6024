"""The dashboard of a Simulator on a real localhost port, for the browser tests and the screenshot
script: a sandbox channel on the Simulator's fake Cloud API, an admin user, and uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from wasession.api.serving import protocol_class
from wasession.services import users as user_service
from wasession.services.channels import Channel
from wasession.simulation import Simulator


def add_sandbox_channel(sim: Simulator, name: str = "Sandbox", **policy: object) -> Channel:
    """A channel flagged `sandbox`, sending to the Simulator's fake, as `serve` creates one."""
    return sim.add_sandbox_channel(name=name, **policy)


def add_admin(sim: Simulator, username: str, password: str, workspace: str = "default") -> int:
    return user_service.create_user(sim.runtime.ctx, username, password, workspace=workspace)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(sim: Simulator) -> Iterator[str]:
    """The Simulator's app served by uvicorn on 127.0.0.1:<free port>; yields its base URL."""
    with served_app(sim.app) as url:
        yield url


@contextmanager
def served_app(app: Any) -> Iterator[str]:
    """Any ASGI app (the Simulator's, or its fake Cloud API's) served the same way."""
    port = free_port()
    # A page's live stream never ends by itself: without a bound on the graceful stop the join below
    # waited its full 10 s for every test that left one open, and left the server thread running.
    # `serve`'s own HTTP protocol (header deadline, connection cap, an answer in one write), so the pages
    # and their live stream are tested on the stack users run.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        http=protocol_class(),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard server did not start on port {port}")
        time.sleep(0.01)  # waiting for a real socket to listen, not for simulated time
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

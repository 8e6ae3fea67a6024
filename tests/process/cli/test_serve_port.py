"""Issue 23: a busy port is one line and a non-zero exit, before the banner and before any engine."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.processes import run_cli


def test_a_busy_port_is_one_line_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = run_cli(tmp_path, "serve", "--port", str(port))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "wasession is starting" not in refused.stdout  # no banner
    lines = refused.stderr.strip().splitlines()
    assert lines == [
        f"error: --port: port {port} on 127.0.0.1 is already in use (another server?); "
        "stop what listens there, or choose another port (--port or WASESSION_PORT)"
    ], refused.stderr

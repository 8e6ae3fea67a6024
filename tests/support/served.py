"""A real `wasession serve --no-sandbox` on a free port with one channel, for the tests of the webhook
endpoint and the apply process that must go through the process a user runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.processes import set_up_with_cli, wait_until
from tests.support.security import healthy
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.secrets import SecretBox

BIN = Path(sys.executable).with_name("wasession")
VERIFY_TOKEN = "served-verify"


def text_message(text: str, phone_number_id: str, wa_id: str = "4915112345678") -> bytes:
    """A customer's text message as Meta posts it, unique (a new wamid each call)."""
    payload = text_message_body(
        phone_number_id=phone_number_id,
        wa_id=wa_id,
        name="Ada",
        text=text,
        timestamp=datetime.now(UTC),
        wamid=new_wamid(wa_id),
    )
    return json.dumps(payload).encode()


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    db: Path
    log_file: Path


@contextmanager
def serve_with_channel(d: Path, phone_number_id: str, app_secret: str, env: dict[str, str]) -> Iterator[Serve]:
    """Its database in `d`, the channel added by `wasession channels add` (run here); `env` on top of the defaults.
    Stopped (SIGTERM, then SIGKILL) when the block ends, unless the test already ended it."""
    db = d / "serve.sqlite3"
    env = {
        **os.environ,
        "WASESSION_HOME": str(d),
        "WASESSION_DATABASE_URL": f"sqlite:///{db}",
        "WASESSION_SECRET_KEY": SecretBox.generate_key(),
        "WASESSION_LOG_FORMAT": "json",
        "WASESSION_SENDER_CONCURRENCY": "2",
        **env,
    }
    set_up_with_cli(
        "channels", "add", "--skip-token-check", "--name", "served", "--phone-number-id", phone_number_id,
        "--access-token", "served-token", "--app-secret", app_secret, "--verify-token", VERIFY_TOKEN, env=env,
    )  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_file = d / "serve.log"
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--no-sandbox", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,  # its own process group, as a service manager starts it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("the server to answer /healthz", lambda: proc.poll() is None and healthy(url), 90)
        yield Serve(proc, url, port, db, log_file)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

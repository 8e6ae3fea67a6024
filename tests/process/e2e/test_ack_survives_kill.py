"""Issue 12: a 200 means the raw body is durable. SIGKILL `serve` right after acknowledged bodies
that were not applied yet; after the restart they are applied, none lost and none twice.

Real processes on a real port. The apply queue is kept busy by a large body (applied in slices for
seconds) while small bodies are acknowledged behind it, so the kill lands with a backlog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.support.processes import HTTP, START_TIMEOUT, free_port, set_up_with_cli
from wasession.runtime.core import new_secret_key
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.db import connect
from wasession.store.schema import messages, webhook_log
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

PNID = "100200300400"
SECRET = "kill-test-app-secret"
LARGE = 3000
SMALL = 30
WAIT = 300.0  # seconds of real time: a bound for a broken implementation on a loaded machine


def big_body(now: datetime) -> bytes:
    body = text_message_body(phone_number_id=PNID, wa_id="1", name="x", text="hi", timestamp=now)
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"], value["messages"] = [], []
    for i in range(LARGE):
        wa_id = f"4477{i:08d}"
        one = text_message_body(phone_number_id=PNID, wa_id=wa_id, name=f"C {i}", text="x", timestamp=now)
        value["contacts"] += one["entry"][0]["changes"][0]["value"]["contacts"]
        value["messages"] += one["entry"][0]["changes"][0]["value"]["messages"]
    return json.dumps(body).encode()


def small_body(n: int, now: datetime) -> bytes:
    wa_id = f"4988{n:08d}"
    return json.dumps(
        text_message_body(phone_number_id=PNID, wa_id=wa_id, name="s", text="s", timestamp=now, wamid=new_wamid(wa_id))
    ).encode()


def start(folder: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = (folder / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasession", "serve", "--no-sandbox", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert proc.poll() is None, (folder / "serve.log").read_text()[-3000:]
        try:
            if HTTP.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)  # waiting for a real server to bind


def counts(url: str) -> tuple[int, int]:
    """(inbound messages, logged bodies not applied yet), read straight from the database (on SQLite
    its reader attaches the webhook log's own file)."""
    db = connect(url)
    try:
        with db.read() as conn:
            inbound = conn.execute(select(func.count()).select_from(messages)).scalar() or 0
            backlog = conn.execute(
                select(func.count()).select_from(webhook_log).where(webhook_log.c.processed_at.is_(None))
            ).scalar()
    finally:
        db.dispose()
    return int(inbound), int(backlog or 0)


def test_acknowledged_bodies_survive_sigkill_and_are_applied_after_restart(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASESSION_")}
    env |= {"WASESSION_DATABASE_URL": database_url, "WASESSION_SECRET_KEY": new_secret_key()}
    set_up_with_cli("migrate", env=env)
    set_up_with_cli(
        *("channels", "add", "--skip-token-check", "--name", "kill", "--phone-number-id", PNID, "--access-token", "t"),
        *("--app-secret", SECRET, "--verify-token", "v"),
        env=env,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    now = datetime.now(UTC)
    proc = start(tmp_path, env, port)
    acked: list[int] = []
    try:
        with httpx.Client(base_url=base, timeout=60) as client:

            def post(raw: bytes) -> Any:
                answer = client.post("/webhooks/whatsapp", content=raw, headers={SIGNATURE_HEADER: sign(SECRET, raw)})
                assert answer.status_code == 200, answer.text
                return answer.json()["id"]

            acked.append(post(big_body(now)))  # logged; its slices now keep the apply queue busy
            acked += [post(small_body(n, now)) for n in range(SMALL)]
        proc.send_signal(signal.SIGKILL)  # right after the last 200
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    inbound, backlog = counts(database_url)
    assert backlog > 0, "the kill should land before the backlog is applied"
    assert len(set(acked)) == SMALL + 1

    proc = start(tmp_path, env, port)
    try:
        deadline = time.monotonic() + WAIT
        while counts(database_url)[1] and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the state a real process converges to
        ready = HTTP.get(base + "/readyz", timeout=10)
    finally:
        proc.terminate()
        proc.wait(30)
    inbound, backlog = counts(database_url)
    assert backlog == 0
    assert inbound == LARGE + SMALL  # every acknowledged message applied, none twice
    assert ready.status_code == 200 and ready.json()["checks"]["apply_backlog_depth"] == 0

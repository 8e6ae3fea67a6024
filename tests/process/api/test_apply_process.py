"""`serve` applies webhooks in a child process (runtime/apply_process.py, runtime/apply_child.py), on
a real port: the child is started, applies what `serve` logs, counts at `serve`'s /metrics, is
replaced when it dies, and never outlives its `serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.processes import HTTP, wait_until
from tests.support.served import serve_with_channel, text_message
from wasession.runtime.apply_process import PROCESS_NAME, ForkedChild
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.store.db import log_file_path
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

PHONE_NUMBER_ID = "106540352242933"
APP_SECRET = "child-app-secret"


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    db: Path
    log_file: Path

    def post(self, text: str) -> int:
        body = text_message(text, PHONE_NUMBER_ID, wa_id="4915112345600")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(APP_SECRET, body)}
        response = HTTP.post(self.url + "/webhooks/whatsapp", content=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return int(response.json()["id"])

    def applied(self, log_id: int) -> bool:
        with sqlite3.connect(log_file_path(self.db)) as conn:  # the webhook log's own file
            row = conn.execute("SELECT processed_at FROM webhook_log WHERE id = ?", (log_id,)).fetchone()
        return row is not None and row[0] is not None

    def children(self) -> list[int]:
        # Listed under the thread that started each: a replacement is started by serve's reader thread.
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            try:
                found.extend(int(pid) for pid in task.read_text().split())
            except FileNotFoundError:
                continue
        return found

    def child(self) -> int | None:
        """The apply process, by the name it gives itself: the first is forked (serve's command line), a
        replacement started as `python -m wasession.runtime.apply_child`."""
        for pid in self.children():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == PROCESS_NAME and alive(pid):
                    return pid
            except FileNotFoundError:
                continue
        return None

    def metric(self, name: str) -> float:
        text = HTTP.get(self.url + "/metrics", timeout=10).text
        values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
        return values[0] if values else 0.0


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_with_channel(tmp_path, PHONE_NUMBER_ID, APP_SECRET, {}) as s:
        yield Served(s.proc, s.url, s.db, s.log_file)


@pytest.fixture
def served_in_one_process(tmp_path: Path) -> Iterator[Served]:
    with serve_with_channel(tmp_path, PHONE_NUMBER_ID, APP_SECRET, {"WASESSION_APPLY_PROCESS": "false"}) as s:
        yield Served(s.proc, s.url, s.db, s.log_file)


def test_a_child_applies_what_serve_logs_and_serve_counts_it(served: Served) -> None:
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    before = served.metric("wasession_webhooks_applied_total")
    log_id = served.post("applied next door")
    wait_until("the body to be applied", lambda: served.applied(log_id), 30)
    with sqlite3.connect(served.db) as conn:
        texts = [r[0] for r in conn.execute("SELECT body FROM messages WHERE direction = 'in'")]
    assert texts == ["applied next door"]
    # The child's counters and apply lags reach serve's /metrics (serve itself applied nothing).
    wait_until(
        "the child's count at serve's /metrics",
        lambda: served.metric("wasession_webhooks_applied_total") >= before + 1,
        10,
    )
    assert served.metric("wasession_webhook_apply_lag_seconds_count") >= 1


def test_the_childs_due_loop_closes_a_session_and_serve_counts_the_closure(served: Served) -> None:
    """serve's due loop runs in the apply process: a customer who wrote 25 hours ago (the default
    timeout is 24 h) is closed at once, and the closure's counter and lag reach serve's /metrics."""
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    wa_id = "4915112345601"
    wrote = datetime.now(UTC) - timedelta(hours=25)
    message = text_message_body(
        phone_number_id=PHONE_NUMBER_ID, wa_id=wa_id, name="Ada", text="hello", timestamp=wrote, wamid=new_wamid(wa_id)
    )
    body = json.dumps(message).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(APP_SECRET, body)}
    assert HTTP.post(served.url + "/webhooks/whatsapp", content=body, headers=headers, timeout=10).status_code == 200

    def closed() -> bool:
        with sqlite3.connect(served.db) as conn:
            rows = conn.execute("SELECT status, close_reason FROM sessions").fetchall()
        return rows == [("closed", "timeout")]

    wait_until("the session to be closed", closed, 30)
    wait_until(
        "the child's closure at serve's /metrics",
        lambda: served.metric('wasession_closures_total{reason="timeout"}') == 1,
        10,
    )
    assert served.metric("wasession_closure_lag_seconds_count") == 1
    assert served.metric("wasession_closure_delay_seconds_count") == 1


def test_serve_reports_the_backlog_the_child_counts_once_it_is_drained(served: Served) -> None:
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda i: served.post(f"flood {i}"), range(300)))
    wait_until("every body to be applied", lambda: all(served.applied(i) for i in ids), 60)
    # The child counts the backlog after its last batch was reported; that count reaches serve too.
    wait_until("serve's backlog gauge back at 0", lambda: served.metric("wasession_webhook_apply_backlog") == 0, 10)
    assert served.metric("wasession_webhooks_applied_total") >= len(ids)


def test_a_killed_child_is_replaced_and_the_next_applies_what_waits(served: Served) -> None:
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    first = served.child()
    assert first is not None
    assert " serve " in command_line(first)  # forked from serve: it shares what serve imported
    os.kill(first, signal.SIGKILL)
    wait_until("another apply process", lambda: served.child() not in (None, first), 30)
    second = served.child()
    assert second is not None
    assert "-m wasession.runtime.apply_child" in command_line(second)  # serve runs threads now: no fork
    log_id = served.post("after the crash")
    wait_until("the body to be applied", lambda: served.applied(log_id), 30)
    lines = [json.loads(line) for line in served.log_file.read_text().splitlines() if line.startswith("{")]
    assert any(
        line["level"] == "error" and f"apply process {first} exited with code -9" in line["msg"] for line in lines
    )


def test_the_child_ends_with_its_serve_even_when_serve_is_killed(served: Served) -> None:
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    child = served.child()
    assert child is not None
    served.proc.kill()
    served.proc.wait(10)
    wait_until("the orphaned apply process to end", lambda: not alive(child), 30)


def test_serve_stops_its_child_on_sigterm_and_exits_cleanly(served: Served) -> None:
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    child = served.child()
    assert child is not None
    served.proc.terminate()
    # uvicorn ends with the signal it stopped on, once shutdown is complete (the child stopped in it).
    assert served.proc.wait(30) in (0, -signal.SIGTERM)
    assert not alive(child)
    lines = [json.loads(line) for line in served.log_file.read_text().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["level"] == "error"]
    assert any("Application shutdown complete" in line["msg"] for line in lines)


def test_with_the_setting_off_serve_applies_in_its_own_process(served_in_one_process: Served) -> None:
    log_id = served_in_one_process.post("applied at home")
    wait_until("the body to be applied", lambda: served_in_one_process.applied(log_id), 30)
    assert served_in_one_process.child() is None


def test_a_sigterm_to_the_whole_group_is_a_stop_not_a_crash(served: Served) -> None:
    # `timeout`, systemd and Docker signal the whole group: the child may stop before serve does.
    wait_until("the apply process to start", lambda: served.child() is not None, 30)
    child = served.child()
    assert child is not None
    os.killpg(served.proc.pid, signal.SIGTERM)
    assert served.proc.wait(30) in (0, -signal.SIGTERM)
    assert not alive(child)
    lines = [json.loads(line) for line in served.log_file.read_text().splitlines() if line.startswith("{")]
    complaints = [line["msg"] for line in lines if line["level"] in ("warning", "error")]
    assert complaints == []


def test_a_forked_child_is_waited_for_with_and_without_a_deadline_and_killed() -> None:
    """`ForkedChild` stands in for Popen around the forked first child: serve's reader waits for its code,
    `stop` waits with a deadline, then kills. Any child of this process (no Popen to reap it) shows it."""
    ours, theirs = socket.socketpair()
    theirs.close()
    exiting = os.posix_spawn(sys.executable, [sys.executable, "-c", "import sys; sys.exit(3)"], os.environ)
    assert ForkedChild(exiting, ours).wait() == 3
    sleeping = os.posix_spawn(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)"], os.environ)
    child = ForkedChild(sleeping, ours)
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.05)
    child.kill()
    assert child.wait(10) == -signal.SIGKILL
    assert child.wait() == -signal.SIGKILL  # the code is kept once reaped
    ours.close()

"""PostgreSQL crashes and comes back under load: workers and serve reconnect by themselves, every
webhook that was acknowledged (2xx) is stored, and due work is still done exactly once.

This test runs its own PostgreSQL server (initdb into a temporary directory, a free port), because
restarting the shared one would break other tests running at the same time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.processes import HTTP, wait_until
from tests.support.scale import (
    APP_SECRET,
    Deployment,
    FakeCloudServer,
    free_port,
    private_postgres_available,
    seed,
)
from wasession.domain.clock import SystemClock
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POLICY = {"session_timeout": "24h", "reminder_enabled": True, "reminder_after_hours": 1}


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="wasession-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root: drop to the postgres user when we are root.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - the server owns it
        self.proc = subprocess.Popen(
            [
                *self.as_user,
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=log,
            stderr=log,
        )
        wait_until("the private PostgreSQL to accept connections", self._accepts, 30, 0.1)

    def _accepts(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): every backend dies, nothing is
        checkpointed, and the next start runs crash recovery from the WAL."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        assert self.proc is not None
        self.proc.wait(30)

    def remove(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    reason = private_postgres_available()
    if reason is not None:
        if os.environ.get("WASESSION_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"cannot start a private PostgreSQL: {reason}")
        pytest.skip(reason)
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


class CustomerTraffic:
    """Customers writing in, one new customer per webhook, from a thread; remembers Meta's view:
    which bodies were acknowledged with a 2xx and which must be delivered again."""

    def __init__(self, url: str, phone_number_id: str) -> None:
        self.url = url + "/webhooks/whatsapp"
        self.pnid = phone_number_id
        self.acked: list[str] = []
        self.refused: list[tuple[str, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def body(self) -> tuple[str, bytes]:
        self._n += 1
        wamid = new_wamid()
        body = text_message_body(
            phone_number_id=self.pnid,
            wa_id=f"1888{self._n:07d}",
            name=f"Walk-in {self._n}",
            text="hello",
            timestamp=SystemClock().now(),
            wamid=wamid,
        )
        return wamid, json.dumps(body).encode()

    def post(self, client: httpx.Client, raw: bytes) -> bool:
        try:
            response = client.post(
                self.url,
                content=raw,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(APP_SECRET, raw)},
            )
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 300

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                wamid, raw = self.body()
                if self.post(client, raw):
                    self.acked.append(wamid)
                else:
                    self.refused.append((wamid, raw))
                self._stop.wait(0.03)

    def redeliver(self) -> None:
        """What Meta does with a refused webhook: send it again, until it is acknowledged."""
        with httpx.Client(timeout=10) as client:
            for wamid, raw in self.refused:
                wait_until(f"webhook {wamid} to be accepted again", lambda raw=raw: self.post(client, raw), 30, 0.2)
                self.acked.append(wamid)


def test_processes_reconnect_after_a_postgres_restart_and_lose_nothing_acknowledged(
    private_pg: PrivatePostgres, fake_cloud: FakeCloudServer, tmp_path: Path
) -> None:
    dep = Deployment(private_pg.url, tmp_path)
    dep.rt().migrate()
    try:
        channel = dep.add_channel(fake_cloud, "200000000000009", rate=500, **POLICY)
        port = free_port()
        dep.start("serve", "serve", "--no-sandbox", "--host", "127.0.0.1", "--port", str(port))
        dep.start("w0", "worker")
        dep.start("w1", "worker")
        base = f"http://127.0.0.1:{port}"
        wait_until("serve to be ready", lambda: _ready(base), 30, 0.1)
        # Work falling due from now until well after the restart.
        now = SystemClock().now()
        seeded = seed(
            dep,
            channel,
            fake_cloud,
            reminders=1_500,
            closures=1_500,
            due_from=now,
            due_until=now + timedelta(seconds=14),
            prefix="1999",
        )

        traffic = CustomerTraffic(base, channel.phone_number_id)
        traffic.start()
        time.sleep(4)
        private_pg.crash()
        crashed = time.monotonic()
        time.sleep(2)
        private_pg.start()
        restarted = time.monotonic()
        restarted_at = SystemClock().now()
        time.sleep(5)
        traffic.stop()
        print(
            f"\nPostgreSQL down for {restarted - crashed:.1f} s; {len(traffic.acked)} webhooks acknowledged, "
            f"{len(traffic.refused)} refused while it was away"
        )
        assert traffic.refused, "the outage did not meet any webhook: it proves nothing"
        assert dep.alive() == ["serve", "w0", "w1"]
        traffic.redeliver()

        wait_until("the due work and the outbox", lambda: _settled(dep, seeded.last_due), 120, 0.5)
        # The apply runs behind the ack: on a busy machine an acknowledged body may still wait in the
        # log here. Waiting for the log first tells "lost" (never logged) from "not applied yet".
        wait_until("every logged body to be applied", lambda: _log_applied(dep), 60, 0.5)
        assert dep.alive() == ["serve", "w0", "w1"], "a process gave up instead of reconnecting"
        assert seeded.last_due > restarted_at, "no due work was left for after the restart"

        stored = {r[0] for r in dep.rows("SELECT wamid FROM messages WHERE direction = 'in'")}
        lost = [w for w in traffic.acked if w not in stored]
        assert lost == [], f"{len(lost)} acknowledged webhooks are not in the database"
        assert len(set(traffic.acked)) == len(traffic.acked)

        closed = Counter(r[0] for r in dep.rows("SELECT session_id FROM events WHERE type = 'session_closed'"))
        assert set(closed) == set(seeded.close) and set(closed.values()) == {1}
        per_session = Counter(r[0] for r in dep.rows("SELECT session_id FROM messages WHERE kind = 'reminder'"))
        assert per_session == dict.fromkeys(seeded.remind, 1)
        at_fake = Counter(m.callback_data for m in fake_cloud.fake.accepted())
        assert max(at_fake.values()) == 1, "a reminder was sent twice"
        statuses = Counter(r[0] for r in dep.rows("SELECT status FROM messages WHERE kind = 'reminder'"))
        # A send in flight when the server died stays `sending` until recovery makes it `unknown`.
        assert set(statuses) <= {"accepted", "sending"} and statuses["sending"] <= 3 * 8
        for name in ("w0", "w1", "serve"):
            assert "listener: reconnected" in dep.log(name), name
        # uvicorn re-raises the SIGTERM it handled once it has shut down, so serve reports -15.
        assert dep.stop_all() == {"serve": -signal.SIGTERM, "w0": 0, "w1": 0}, "SIGTERM did not end every process"
        assert "Application shutdown complete" in dep.log("serve")
    finally:
        dep.stop_all()
        if dep.runtime is not None:
            dep.runtime.stop()


def _ready(base: str) -> bool:
    try:
        return HTTP.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _log_applied(dep: Deployment) -> bool:
    try:
        return dep.scalar("SELECT count(*) FROM webhook_log WHERE processed_at IS NULL") == 0
    except Exception:
        return False


def _settled(dep: Deployment, last_due: object) -> bool:
    try:
        return (
            dep.scalar("SELECT count(*) FROM sessions WHERE due_at <= :t", t=last_due) == 0
            and dep.scalar("SELECT count(*) FROM messages WHERE status = 'pending'") == 0
            and dep.scalar(
                "SELECT count(*) FROM messages WHERE status = 'sending' AND status_at > now() - interval '3 seconds'"
            )
            == 0
        )
    except Exception:
        return False

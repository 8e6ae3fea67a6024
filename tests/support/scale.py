"""Helpers for the multi-process tests: real `wasession` processes, a fake Cloud API on a real port,
sessions seeded straight into the database, and polling of real processes with a wall-clock deadline."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import insert, select, text

from tests.conftest import fresh_postgres_url
from tests.support.processes import wait_until
from wasession.config import Settings
from wasession.domain.clock import SystemClock
from wasession.domain.plan import NEW_SILENCE, plan
from wasession.domain.transitions import plan_fields
from wasession.runtime import Runtime
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.services import channels as channel_service
from wasession.services.channels import NewChannel
from wasession.store.channels import Channel
from wasession.store.schema import contacts, sessions
from wasession.store.secrets import SecretBox

BIN = Path(sys.executable).with_name("wasession")
APP_SECRET = "scale-app-secret-5b1d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeCloudServer:
    """The fake Cloud API on a real localhost port, in a thread, on the real clock."""

    def __init__(self) -> None:
        self.fake = FakeCloudApi(SystemClock(), status_delays=None)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.fake.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", backlog=512
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> FakeCloudServer:
        self._thread.start()
        wait_until("the fake Cloud API to listen", lambda: self._server.started, 10, 0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass
class Deployment:
    """One database with channels, and the `wasession` processes running against it."""

    url: str
    tmp: Path
    secret_key: str = field(default_factory=SecretBox.generate_key)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    runtime: Runtime | None = None
    # pg_stat_activity is server-wide: a tag keeps two test runs on one server from seeing each other.
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def app_name(self, name: str) -> str:
        return f"wasession-{self.tag}-{name}"

    def rt(self) -> Runtime:
        if self.runtime is None:
            self.runtime = Runtime(Settings(database_url=self.url, secret_key=self.secret_key))
        return self.runtime

    def env(self, name: str, **extra: str) -> dict[str, str]:
        sep = "&" if "?" in self.url else "?"
        return {
            **os.environ,
            "WASESSION_DATABASE_URL": f"{self.url}{sep}application_name={self.app_name(name)}",
            "WASESSION_SECRET_KEY": self.secret_key,
            "WASESSION_LOG_FORMAT": "json",
            "WASESSION_SENDER_CONCURRENCY": "8",
            **extra,
        }

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen([str(BIN), *args], env=self.env(name, **extra), stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def alive(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is None]

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every process still running; their exit codes (-9: had to be killed)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print(f"{name} did not stop within 30 s of SIGTERM")
        return {name: proc.returncode for name, proc in self.procs.items()}

    def add_channel(self, fake: FakeCloudServer, pnid: str, rate: int, **policy: object) -> Channel:
        token = f"token-{pnid}-secret"
        channel = channel_service.create_channel(
            self.rt().ctx,
            NewChannel(
                name=f"Scale {pnid}",
                phone_number_id=pnid,
                access_token=token,
                app_secret=APP_SECRET,
                verify_token=f"verify-{pnid}",
                graph_base_url=fake.url,
                rate_limit_per_second=rate,
            ),
            policy,
        )
        fake.fake.register(FakeNumber(phone_number_id=pnid, access_token=token, app_secret=APP_SECRET))
        return channel

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.rt().db.read() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.rt().db.read() as conn:
            return list(conn.execute(text(sql), params).all())


@dataclass(frozen=True)
class Seeded:
    remind: list[int]
    close: list[int]
    last_due: datetime


def seed(
    dep: Deployment,
    channel: Channel,
    fake: FakeCloudServer,
    *,
    reminders: int,
    closures: int,
    due_from: datetime,
    due_until: datetime,
    prefix: str,
) -> Seeded:
    """Sessions whose next action falls due between `due_from` and `due_until`, spread evenly:
    `reminders` whose reminder is due, `closures` whose closure is due (exact mode). Each row is
    what ingest would have written when the customer wrote at T."""
    policy = channel.policy
    remind_after = timedelta(hours=policy.reminder_after_hours)
    timeout = policy.session_timeout
    total = reminders + closures
    span = (due_until - due_from) / max(1, total - 1)
    rows: list[dict[str, Any]] = []
    # Interleave the kinds evenly, so reminders and closures fall due mixed.
    kinds = ["remind" if (i + 1) * reminders // total > i * reminders // total else "close" for i in range(total)]
    wa_ids = [f"{prefix}{i:07d}" for i in range(total)]
    now = SystemClock().now()
    with dep.rt().db.write() as conn:
        conn.execute(
            insert(contacts),
            [
                {
                    "workspace_id": channel.workspace_id,
                    "wa_id": w,
                    "profile_name": f"Customer {i}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, w in enumerate(wa_ids)
            ],
        )
        ids = dict(
            conn.execute(select(contacts.c.wa_id, contacts.c.id).where(contacts.c.wa_id.in_(wa_ids))).all()  # type: ignore[arg-type]
        )
        for i, (kind, wa_id) in enumerate(zip(kinds, wa_ids, strict=True)):
            due = due_from + span * i
            t = due - (remind_after if kind == "remind" else timeout)
            p = plan(last_customer_at=t, policy=policy, reminder_state=NEW_SILENCE, now=t)
            values = plan_fields(p)
            if kind == "close":
                values.update(reminder_state="skipped", reminder_due_at=None, due_at=p.closes_at, due_kind="close")
            assert values["due_at"] == due, (kind, values)
            rows.append(
                {
                    "channel_id": channel.id,
                    "contact_id": ids[wa_id],
                    "status": "active",
                    "opened_at": t,
                    "last_customer_at": t,
                    "last_message_at": t,
                    "awaiting": "agent",
                    **values,
                }
            )
            if kind == "remind":
                fake.fake.customer_wrote(channel.phone_number_id, wa_id, t)
        conn.execute(insert(sessions), rows)
        found = conn.execute(
            select(sessions.c.id, sessions.c.due_kind).where(sessions.c.contact_id.in_(list(ids.values())))
        ).all()
    return Seeded(
        remind=sorted(r.id for r in found if r.due_kind == "remind"),
        close=sorted(r.id for r in found if r.due_kind == "close"),
        last_due=due_until,
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from fresh_postgres_url()


@pytest.fixture
def deployment(pg_url: str, tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment(pg_url, tmp_path)
    dep.rt().migrate()
    try:
        yield dep
    finally:
        dep.stop_all()
        if dep.runtime is not None:
            dep.runtime.stop()


@pytest.fixture
def fake_cloud() -> Iterator[FakeCloudServer]:
    with FakeCloudServer() as server:
        yield server


def private_postgres_available() -> str | None:
    """Why a private PostgreSQL server cannot be started here, or None."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        return "no PostgreSQL server binaries under /usr/lib/postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to drop to the postgres user"
    return None

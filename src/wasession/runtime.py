"""The composition root: builds the database, clock, services, engine and sender from Settings.

Faces (CLI, API, dashboard, Simulator) get everything through a Runtime, so the Simulator runs
exactly the production wiring with a manual clock and the fake Cloud API swapped in.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime

import httpx

from wasession.config import Settings
from wasession.domain.clock import Clock, SystemClock
from wasession.engine import notify
from wasession.engine.due import DueWorker
from wasession.engine.event_dispatch import EventDispatcher
from wasession.engine.runner import Loop
from wasession.ingest import Ingestor, IngestResult
from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy
from wasession.outbox import Sender, limiter_for
from wasession.sandbox.fake_cloud import FakeCloudApi
from wasession.store import migrate
from wasession.store.channels import Channel
from wasession.store.db import Database, connect
from wasession.store.secrets import SecretBox, load_or_create_key
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.transport import HttpxTransport, PooledTransport, Transport

log = logging.getLogger(__name__)

# How often each process looks for messages a dead process left in `sending` (they become
# `unknown` after sender.STUCK_AFTER).
RECOVER_EVERY = 60.0
# The due loop's longest sleep: it re-reads the next due time at least this often, so a due time
# further away than this needs no wake-up to be met.
DUE_MAX_SLEEP = 1.0

LoopStep = Callable[[], object]
NextAt = Callable[[], datetime | None]


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        sandbox_base_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db: Database = connect(settings.normalized_database_url(), pool_size=settings.db_pool_size)
        key, self.key_created = load_or_create_key(settings.secret_key, settings.data_dir())
        self.key_file = settings.data_dir() / "wasession.key" if self.key_created else None
        self.box = SecretBox(key)
        self.ctx = ServiceContext(self.db, self.clock, self.box, wake=self.wake)
        self.ingestor = Ingestor(self.ctx, wake=self.wake_after_ingest)
        self.due = DueWorker(self.ctx, batch_size=settings.engine_batch_size)
        # An injected client (the Simulator's, on the in-process fake) is used as it is; otherwise
        # sends go over pooled standard-library connections (whatsapp/transport.py says why).
        self.graph: Transport = (
            HttpxTransport(http)
            if http is not None
            else PooledTransport(timeout=15.0, connect_timeout=5.0, max_idle_per_origin=settings.sender_concurrency)
        )
        # Sandbox channels send to the built-in fake Cloud API wherever this process serves it.
        self.sandbox_base_url = sandbox_base_url
        self._clients: dict[tuple[str, str], CloudClient] = {}
        self._clients_lock = threading.Lock()
        self.rate_limiter = limiter_for(self.db, self.clock)
        # issue 4: outbound event webhooks, to public addresses and what the operator allows (docs/security.md)
        self.event_dispatch = EventDispatcher(self.ctx, policy=AddressPolicy.parse(settings.outbound_allow))
        self.sender = Sender(
            self.ctx, self.client_for, concurrency=settings.sender_concurrency, limiter=self.rate_limiter
        )
        self.loops: list[Loop] = []
        self.owner = f"{os.uname().nodename}:{os.getpid()}"
        self.fake: FakeCloudApi | None = None
        self.listener: notify.DueListener | None = None

    # -- wiring ------------------------------------------------------------------------------------

    def client_for(self, channel: Channel) -> CloudClient:
        if channel.sandbox and self.sandbox_base_url:
            base = self.sandbox_base_url
        else:
            base = channel.graph_base_url or self.settings.graph_base_url
        version = channel.graph_version or self.settings.graph_version
        with self._clients_lock:
            client = self._clients.get((base, version))
            if client is None:
                client = CloudClient(self.graph, base_url=base, graph_version=version)
                self._clients[(base, version)] = client
            return client

    def attach_fake(self, fake: FakeCloudApi) -> None:
        """Sends to the fake's numbers go to `fake`, which must hear of every customer message on them
        (it enforces the 24-hour window as Meta does): ingest tells it after each commit, so no path
        that delivers a customer's message can forget to."""
        self.fake = fake
        self.ingestor.on_customer = fake.customer_wrote

    def migrate(self) -> None:
        migrate.upgrade(self.db)

    def schema_current(self) -> bool:
        return migrate.is_current(self.db)

    # -- background loops (serve, worker) ------------------------------------------------------------

    def wake(self) -> None:
        """After a commit that may have made work due sooner: this process's loops, then the others'."""
        self.wake_local()
        if self.db.is_postgres:
            notify.publish(self.db, self.owner)

    def wake_after_ingest(self, result: IngestResult) -> None:
        """After webhooks were applied: the event loop (they recorded events), and the due loop
        only if they made something due before its next look anyway (a due time within
        DUE_MAX_SLEEP). The sender is not woken: ingest queues no sends. On PostgreSQL the other
        processes are told only in the same case."""
        due_soon = result.due_at is not None and (
            result.due_at - self.clock.now()
        ).total_seconds() <= DUE_MAX_SLEEP
        for loop in self.loops:
            if loop.name == "events" or (due_soon and loop.name == "due"):
                loop.wake()
        if due_soon and self.db.is_postgres:
            notify.publish(self.db, self.owner)

    def wake_local(self) -> None:
        for loop in self.loops:
            loop.wake()

    def add_loop(
        self, name: str, step: LoopStep, next_at: NextAt, *, max_sleep: float = 1.0, wakeable: bool = True
    ) -> Loop:
        loop = Loop(name, step, next_at, self.clock, max_sleep=max_sleep, wakeable=wakeable)
        self.loops.append(loop)
        return loop

    def start_engine(self) -> None:
        self.sender.recover_stuck()
        self.add_loop("due", self.due.run_due, self.due.next_due_at, max_sleep=DUE_MAX_SLEEP)
        self.add_loop("sender", self.sender.run_pending, self.sender.next_attempt_at)
        self.event_dispatch.wait = False  # the loop hands webhooks to the pool; finished calls wake it
        self.event_dispatch.on_done = self.wake_local
        self.add_loop("events", self.event_dispatch.run_pending, self.event_dispatch.next_attempt_at)  # issue 4
        # A process may die with messages in `sending`; any survivor turns them `unknown` (issue 5).
        self.add_loop("recover", self.sender.recover_stuck, lambda: None, max_sleep=RECOVER_EVERY, wakeable=False)
        self.add_loop("webhook-prune", self.prune_webhooks, lambda: None, max_sleep=3600.0, wakeable=False)  # issue 3
        for loop in self.loops:
            loop.start()
        if self.db.is_postgres:  # issue 5: wake-ups from other processes
            self.listener = notify.DueListener(self.db, self.owner, self.wake_local)
            self.listener.start()

    def prune_webhooks(self) -> int:  # issue 3: raw webhook log retention
        from wasession.ingest import prune_webhook_log

        return prune_webhook_log(self.ctx, self.settings.webhook_retention_days)

    def stop(self) -> None:
        """Graceful: each loop finishes its step (the due batch commits, requests in flight are
        recorded) and claims nothing more; then connections close."""
        self.due.stopping.set()
        self.sender.stopping.set()
        for loop in self.loops:
            loop.stop()
        self.loops.clear()
        if self.listener is not None:
            self.listener.stop()
        self.sender.close()
        self.event_dispatch.close()  # issue 4
        if self.rate_limiter is not None:
            self.rate_limiter.close()
        self.graph.close()
        self.db.dispose()

"""The workers of `serve` and `worker`: due worker, sender, event dispatcher, relay and their loops.

Building them starts nothing; `start` starts the loops (and, on PostgreSQL, the wake-up listener).
The Simulator builds them too and steps them by hand on its manual clock. They are given what they
use (settings, services context, apply queue, ...), not the `Runtime` that builds them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from wasession.config import Settings
from wasession.engine.chatwoot_sync import ChatwootSend, ChatwootSync
from wasession.engine.due import DueWorker
from wasession.engine.event_dispatch import EventDispatcher
from wasession.engine.relay import Relay
from wasession.engine.runner import Loop
from wasession.ingest import IngestResult
from wasession.ingest.apply_queue import ApplyQueue
from wasession.lifecycle.context import ServiceContext
from wasession.outbound.addresses import AddressPolicy
from wasession.outbox import Sender, limiter_for
from wasession.runtime.apply_process import ApplyProcess
from wasession.runtime.cadence import APPLY_SWEEP, DUE_MAX_SLEEP, RECOVER_EVERY
from wasession.store import event_webhooks as hook_store
from wasession.store import forwards as forward_store
from wasession.store import notify
from wasession.store.channels import Channel
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.transport import HttpxTransport, Transport
from wasession.whatsapp.wire import Wire, WireTransport

log = logging.getLogger(__name__)

# How long the workers trust their last look at whether any event webhook or relay target exists.
TARGETS_FRESH = 1.0

LoopStep = Callable[[], object]
NextAt = Callable[[], datetime | None]


class Workers:
    def __init__(
        self,
        settings: Settings,
        ctx: ServiceContext,
        *,
        owner: str,
        apply_queue: ApplyQueue,
        prune_webhooks: LoopStep,
        http: httpx.Client | None = None,
        sandbox_base_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.apply_queue = apply_queue
        self.prune_webhooks = prune_webhooks
        self.due = DueWorker(ctx, batch_size=settings.engine_batch_size)
        # An injected client (the Simulator's, on the in-process fake) is used as it is; otherwise
        # Graph calls go over keep-alive connections on the wire's event loop, where the sender's
        # requests run too (whatsapp/wire.py says why).
        self.wire = Wire("wasession-send")
        self.graph: Transport = (
            HttpxTransport(http)
            if http is not None
            else WireTransport(
                self.wire, timeout=15.0, connect_timeout=5.0, max_idle_per_origin=settings.sender_concurrency
            )
        )
        # Sandbox channels send to the built-in fake Cloud API wherever this process serves it.
        self.sandbox_base_url = sandbox_base_url
        self._clients: dict[tuple[str, str], CloudClient] = {}
        self._clients_lock = threading.Lock()
        self.rate_limiter = limiter_for(ctx.db, ctx.clock)
        # Outbound event webhooks, to public addresses and what the operator allows (docs/security.md).
        share = settings.delivery_threads_per_workspace  # issue 25: no workspace holds a whole pool
        self.event_dispatch = EventDispatcher(
            ctx, policy=AddressPolicy.parse(settings.outbound_allow), per_workspace=share
        )
        self.relay = Relay(ctx, owner=owner, policy=self.event_dispatch.policy, per_workspace=share)
        # issue 22: channels connected to Chatwoot with send_via=chatwoot send through their Chatwoot.
        self.chatwoot = ChatwootSync(ctx, policy=self.event_dispatch.policy)
        self.sender = Sender(
            ctx,
            self.sender_client_for,
            concurrency=settings.sender_concurrency,
            limiter=self.rate_limiter,
            wire=self.wire,
        )
        self.loops: list[Loop] = []
        self.owner = owner
        self.listener: notify.DueListener | None = None
        self.apply_loop: Loop | None = None
        self.apply_process: ApplyProcess | None = None
        self._targets_at = float("-inf")
        self._targets = (True, True)  # (an event webhook is enabled, a relay target is unpaused)

    def client_for(self, channel: Channel | None) -> CloudClient:
        """The Graph client for `channel`'s origin and version; None: the operator's defaults."""
        settings = self.settings
        if channel is not None and channel.sandbox and self.sandbox_base_url:
            base = self.sandbox_base_url
        else:
            base = (channel.graph_base_url if channel else None) or settings.graph_base_url
        version = (channel.graph_version if channel else None) or settings.graph_version
        return self.graph_client(base, version)

    def graph_client(self, base_url: str | None = None, version: str | None = None) -> CloudClient:
        """The Graph client for this origin and version (None: the operator's WASESSION_GRAPH_* settings),
        for a channel not yet stored, as `channels add --graph-base-url` names it."""
        base = base_url or self.settings.graph_base_url
        version = version or self.settings.graph_version
        with self._clients_lock:
            client = self._clients.get((base, version))
            if client is None:
                client = CloudClient(self.graph, base_url=base, graph_version=version)
                self._clients[(base, version)] = client
            return client

    def sender_client_for(self, channel: Channel) -> CloudClient:
        """The outbox's client for `channel`: its Chatwoot when connected with send_via=chatwoot, else Graph."""
        connection = self.chatwoot.connection_of(channel.id)
        if connection is not None and connection.send_via == "chatwoot":
            return ChatwootSend(self.chatwoot, connection)
        return self.client_for(channel)

    # -- loops ---------------------------------------------------------------------------------------

    def wake_local(self, *, due: bool = True) -> None:
        """`due=False`: the due loop itself just acted (it runs in the apply process under `serve`)."""
        self._targets_at = float("-inf")  # the write that woke them may have added a target
        for loop in self.loops:
            loop.wake()
        if due and self.apply_process is not None:
            self.apply_process.wake_due()

    def wake_apply(self) -> None:
        if self.apply_process is not None:
            self.apply_process.wake()
        elif self.apply_loop is not None:
            self.apply_queue.acked()
            self.apply_loop.wake()

    def wake_after_ingest(self, result: IngestResult) -> bool:
        """Wake the event loop and the relay when there is someone to tell (an enabled event webhook,
        an unpaused relay target), and the due loop only if the webhooks made something due before
        its next look anyway (a due time within DUE_MAX_SLEEP of clock time). The sender is not
        woken: ingest queues no sends. Returns whether work is due that soon."""
        due_soon = result.due_at is not None and (result.due_at - self.ctx.clock.now()).total_seconds() <= DUE_MAX_SLEEP
        events, relay = self._outbound_targets()
        for loop in self.loops:
            if (
                (events and loop.name == "events")
                or (relay and loop.name == "relay")
                or (due_soon and loop.name == "due")
            ):
                loop.wake()
        if due_soon and self.apply_process is not None:
            self.apply_process.wake_due()
        return due_soon

    def _outbound_targets(self) -> tuple[bool, bool]:
        """Looked up at most every TARGETS_FRESH seconds: a wake per applied batch for loops with no
        one to deliver to cost a sixth of `serve`'s time under a webhook flood. A target added here
        wakes every loop anyway (`wake_local`); one added by another process is found by the loops'
        own sweep within their longest sleep, as before."""
        now = time.monotonic()
        if now - self._targets_at >= TARGETS_FRESH:
            with self.ctx.db.read() as conn:
                self._targets = (hook_store.any_enabled(conn), forward_store.any_unpaused(conn))
            self._targets_at = now
        return self._targets

    def add_loop(
        self, name: str, step: LoopStep, next_at: NextAt, *, max_sleep: float = 1.0, wakeable: bool = True
    ) -> Loop:
        loop = Loop(name, step, next_at, self.ctx.clock, max_sleep=max_sleep, wakeable=wakeable)
        self.loops.append(loop)
        return loop

    def start(self, *, apply_process: ApplyProcess | None = None) -> None:
        """`apply_process`: it applies the logged webhooks and runs the due loop, instead of loops of this
        process (runtime/apply_process.py says why)."""
        self.sender.recover_stuck()
        if apply_process is not None:
            self.apply_process = apply_process
            apply_process.start()
        else:  # issue 12: logged webhooks, applied behind the ack
            self.apply_loop = self.add_loop("apply", self.apply_queue.run, lambda: None, max_sleep=APPLY_SWEEP)
            self.add_loop("due", self.due.run_due, self.due.next_due_at, max_sleep=DUE_MAX_SLEEP)
        self.add_loop("sender", self.sender.run_pending, self.sender.next_attempt_at)
        self.event_dispatch.wait = False  # the loop hands webhooks to the pool; finished calls wake it
        self.event_dispatch.on_done = self.wake_local
        self.add_loop("events", self.event_dispatch.run_pending, self.event_dispatch.next_attempt_at)
        self.relay.wait, self.relay.on_done = False, self.wake_local
        self.add_loop("relay", self.relay.run_pending, self.relay.next_attempt_at)
        # issue 22: never waits for a Chatwoot; a finished call wakes it. Its short sleep bounds how long a
        # closure recorded by another loop waits to be resolved in Chatwoot.
        self.chatwoot.wait, self.chatwoot.on_done = False, self.wake_local
        self.chatwoot.recover_stuck()
        self.add_loop("chatwoot", self.chatwoot.run_pending, self.chatwoot.next_attempt_at, max_sleep=0.2)
        self.add_loop(
            "chatwoot-recover", self.chatwoot.recover_stuck, lambda: None, max_sleep=RECOVER_EVERY, wakeable=False
        )
        # A process may die with messages in `sending`; any survivor turns them `unknown` (issue 5).
        self.add_loop("recover", self.sender.recover_stuck, lambda: None, max_sleep=RECOVER_EVERY, wakeable=False)
        self.add_loop(  # issue 3
            "webhook-prune", self.prune_webhooks, lambda: None, max_sleep=3600.0, wakeable=False
        )
        for loop in self.loops:
            loop.start()
        db = self.ctx.db
        if db.is_postgres:  # issue 5: wake-ups from other processes
            self.listener = notify.DueListener(db, self.owner, self.wake_local)
            self.listener.start()

    def stop(self) -> None:
        """Graceful: each loop finishes its step (the due batch commits, requests in flight are
        recorded) and claims nothing more; then connections close."""
        self.due.stopping.set()
        self.sender.stopping.set()
        if self.apply_process is not None:
            self.apply_process.stop()
            self.apply_process = None
        for loop in self.loops:
            loop.stop()
        self.loops.clear()
        self.apply_loop = None
        if self.listener is not None:
            self.listener.stop()
        self.sender.close()
        self.event_dispatch.close()  # issue 4
        self.relay.close()
        self.chatwoot.close()
        if self.rate_limiter is not None:
            self.rate_limiter.close()
        self.graph.close()
        self.wire.close()

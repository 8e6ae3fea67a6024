"""Webhook ingest: the durable ack, then applying the logged bodies behind it.

`submit` (the endpoint) appends a verified body to the webhook log in a group commit and answers
once it is committed: a 2xx means the raw body is durable, not applied. The apply queue
(`ApplyQueue`) applies logged bodies in batches right behind it, each change judged again against
its channel's secret as stored then; `drain` applies everything waiting at once (the Simulator,
tests and admin commands that must see the state a webhook leads to).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from wasession.ingest.apply import Applier
from wasession.ingest.apply_queue import ApplyQueue
from wasession.ingest.credentials import TRUSTED, CredentialCache, SignatureRejected
from wasession.ingest.gate import DEFAULT_MAX_NUMBERS, DEFAULT_UNROUTED_SECRETS, AckGate
from wasession.ingest.group_commit import GroupCommit, body_kind, log_bodies
from wasession.ingest.result import IngestResult
from wasession.ingest.slices import Report, SlicedBody, prepare
from wasession.lifecycle.context import ServiceContext
from wasession.store import webhook_log
from wasession.store.channels import ChannelCache

log = logging.getLogger(__name__)


class Ingestor:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        wake: Callable[[IngestResult], None] | None = None,
        on_customer: Callable[[str, str, datetime], None] | None = None,
        on_logged: Callable[[], None] | None = None,
        backlog_limit: int = 50_000,
        max_numbers: int = DEFAULT_MAX_NUMBERS,
        unrouted_secrets: int = DEFAULT_UNROUTED_SECRETS,
    ) -> None:
        self.ctx = ctx
        # Told of every committed window-opening customer message, whichever path delivered it.
        self.on_customer = on_customer
        self.credentials = CredentialCache(ctx)
        self.gate = AckGate(ctx, max_numbers=max_numbers, unrouted_secrets=unrouted_secrets)
        self.channels = ChannelCache()
        self.applier = Applier(self.channels)
        # After applying: which engine loops to wake depends on what the bodies changed.
        self._wake = wake or (lambda _result: ctx.wake())
        # After an ack commit: wake whoever applies (the engine's apply loop).
        self.on_logged = on_logged or (lambda: None)
        # Where the results of applied bodies go once committed: `act_on_applied` here; an apply
        # process sends them instead to the process that serves, which acts on them there.
        self.report: Report = self.act_on_applied
        self.queue = ApplyQueue(
            ctx, self.credentials, self.applier, lambda results: self.report(results), backlog_limit=backlog_limit
        )
        self._group = GroupCommit(ctx, lambda: self.on_logged(), gate=self.gate)

    def submit(
        self, raw: bytes, signature: str | None = None, kind: int | None = None, *, judged: int | None = None
    ) -> Future[IngestResult]:
        """Append a body the endpoint has checked to the webhook log, together with the other bodies
        waiting (group commit). The future resolves once it is committed, with its log id (`replay`:
        the same bytes were stored before, nothing new). Blocks while the writer is far behind.
        `kind`: what the body carries (`webhook_log.KIND_*`) if the caller parsed it, else told
        from the bytes (`body_kind`). `judged`: the secrets version `gate` accepted it under; a
        body judged under an older one is judged again before it is logged (the future raises
        `gate.Refused` if it is refused then)."""
        future = self._group.submit(raw, signature, kind, judged=judged)
        assert isinstance(future, Future)
        return future

    def submit_nowait(
        self, raw: bytes, signature: str | None, kind: int | None = None, *, judged: int | None = None
    ) -> asyncio.Future[IngestResult] | None:
        """`submit` from a running event loop, answered on that loop: None instead of waiting when the
        writer is far behind."""
        future = self._group.submit(raw, signature, kind, wait=False, judged=judged, loop=asyncio.get_running_loop())
        assert future is None or isinstance(future, asyncio.Future)
        return future

    def ingest(self, raw: bytes, signature: str | None = None) -> IngestResult:
        """Log a body and apply everything waiting, in this thread; its result. Without `signature`
        the caller has verified the body; with it, a body the ack would refuse (`gate.py`) raises
        `SignatureRejected`, and nothing is stored."""
        if signature is not None and not self.gate.judge(raw, signature).accepted:
            raise SignatureRejected()
        with self.ctx.db.log.write() as conn:
            logged = log_bodies(conn, [(raw, signature, body_kind(raw))], self.ctx.clock.now())[0]
        applied = self.drain()
        assert logged.log_id is not None
        return applied.get(logged.log_id, logged)

    def drain(self) -> dict[int, IngestResult]:
        """Apply every logged body waiting now; their results by log id."""
        return self.queue.drain()

    def act_on_applied(self, results: list[IngestResult]) -> None:
        """After applied bodies commit (here, or in this process's apply process): tell the fake
        Cloud API of each customer who wrote, and wake the loops that have work now."""
        merged = IngestResult()
        if self.on_customer is not None:
            for r in results:
                for pnid, user, at in r.customers:
                    self.on_customer(pnid, user, at)
        for r in results:
            merged.opened += r.opened
            merged.messages += r.messages
            merged.statuses += r.statuses
            merged.scheduled(r.due_at)
        if merged.opened or merged.messages or merged.statuses:
            self._wake(merged)

    def reprocess(
        self, log_id: int, raw: bytes, signature: str | None = None, received_at: datetime | None = None
    ) -> IngestResult:
        """Apply a stored body again, in slices, as if at its logged arrival `received_at`. Safe to
        repeat: a known wamid changes nothing (R4) and statuses only move forward (R15). With the
        signature it was received with, each change is verified again against its channel's current
        secret: a number claimed since by another channel is applied only if that channel's secret
        signs the body."""
        prepared = prepare(raw)
        with self.ctx.db.read() as conn:
            verdict = TRUSTED if signature is None else self.credentials.verdict(conn, prepared.batch, signature, raw)
        sliced = SlicedBody(log_id, prepared.updates, verdict, received_at or self.ctx.clock.now())
        sliced.result.error = prepared.error
        if not prepared.updates:
            sliced.updates = []
            webhook_log.mark_applied(self.ctx.db, [(log_id, self.ctx.clock.now(), sliced.result.to_outcome())])
            return sliced.result
        while not sliced.step(self.ctx, self.applier, self.report):
            pass
        return sliced.result

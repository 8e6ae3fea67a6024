"""Delivers the built-in fake Cloud API's status webhooks to our own endpoint over real HTTP.

Meta posts webhooks over many connections at once; so does this, through a bounded pool of
keep-alive connections: one `step` delivers every due webhook, at most `concurrency` in flight, and
returns when all are answered (so nothing queues here beyond what the fake already holds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from wasession.sandbox.fake_cloud import FakeCloudApi, PendingWebhook, _Clock

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16


class WebhookPump:
    """Delivers the fake's due status webhooks to our own endpoint over real HTTP, concurrently.

    `observe`, if given, is called after each delivery with the webhook and the monotonic time its
    answer came (the closed-loop benchmark measures delivery lag with it)."""

    def __init__(
        self,
        fake: FakeCloudApi,
        clock: _Clock,
        url: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        observe: Callable[[PendingWebhook, float], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.fake = fake
        self.clock = clock
        self.url = url
        self.observe = observe
        self.concurrency = concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.Client(timeout=10.0, limits=limits)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="wasession-pump")
        self._count_lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def step(self) -> int:
        hooks = self.fake.due_webhooks(self.clock.now())
        if len(hooks) == 1 or self.concurrency == 1:
            for hook in hooks:
                self._deliver(hook)
        elif hooks:
            list(self._pool.map(self._deliver, hooks))
        return len(hooks)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.http.close()

    def _deliver(self, hook: PendingWebhook) -> None:
        raw, headers = self.fake.signed(hook)
        try:
            response = self.http.post(self.url, content=raw, headers=headers)
        except httpx.HTTPError:
            self._count(ok=False)
            log.warning("sandbox: could not deliver a status webhook to %s", self.url)
            return
        self._count(ok=response.status_code < 300)
        if response.status_code >= 300:
            log.warning("sandbox: %s answered %d to a status webhook", self.url, response.status_code)
        if self.observe is not None:
            self.observe(hook, time.monotonic())

    def _count(self, *, ok: bool) -> None:
        with self._count_lock:
            if ok:
                self.delivered += 1
            else:
                self.failed += 1

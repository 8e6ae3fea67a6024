"""Delivers the built-in fake Cloud API's status webhooks to our own endpoint over real HTTP."""

from __future__ import annotations

import logging

import httpx

from wasession.sandbox.fake_cloud import FakeCloudApi, _Clock

log = logging.getLogger(__name__)


class WebhookPump:
    """Delivers the fake's due status webhooks to our own endpoint over real HTTP."""

    def __init__(self, fake: FakeCloudApi, clock: _Clock, url: str) -> None:
        self.fake = fake
        self.clock = clock
        self.url = url
        self.http = httpx.Client(timeout=10.0)

    def step(self) -> int:
        hooks = self.fake.due_webhooks(self.clock.now())
        for hook in hooks:
            raw, headers = self.fake.signed(hook)
            try:
                self.http.post(self.url, content=raw, headers=headers)
            except httpx.HTTPError:
                log.warning("sandbox: could not deliver a status webhook to %s", self.url)
        return len(hooks)

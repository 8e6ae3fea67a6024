"""What the apply path takes: the updates of a body in the order they are applied, and a batch of
logged bodies to apply in one transaction. Value types only, so every part of ingest can share them
without importing another part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult
from wasession.whatsapp.payload import InboundMessage, OtherUpdate, StatusUpdate, WebhookBatch

Update = InboundMessage | StatusUpdate | OtherUpdate


def updates_in_order(batch: WebhookBatch) -> list[Update]:
    """Messages oldest first (so T only moves forward within a body), then statuses, then others:
    the order a body is applied in, and the order its slices follow."""
    return [*sorted(batch.messages, key=lambda m: m.timestamp), *batch.statuses, *batch.others]


@dataclass(slots=True)
class BodyToApply:
    """A logged body (or a slice of one) to apply as if at its logged arrival `received_at` (R3's
    clamp); applying it fills `result`."""

    log_id: int
    updates: Sequence[Update]
    verdict: Verdict
    received_at: datetime
    result: IngestResult

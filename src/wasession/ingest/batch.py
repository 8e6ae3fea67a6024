"""A batch of logged bodies to apply in one transaction (the apply queue's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wasession.ingest.apply import Update
from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult


@dataclass(slots=True)
class BodyToApply:
    log_id: int
    updates: Sequence[Update]
    verdict: Verdict
    received_at: datetime
    result: IngestResult

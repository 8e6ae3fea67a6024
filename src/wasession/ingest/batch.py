"""A batch of logged bodies handed to the applier at once (the apply queue's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wasession.ingest.apply import Applier, Update
from wasession.ingest.credentials import Verdict
from wasession.ingest.result import IngestResult
from wasession.store.channels import Channel
from wasession.store.db import Connection


@dataclass(slots=True)
class BodyToApply:
    log_id: int
    updates: Sequence[Update]
    verdict: Verdict
    received_at: datetime
    result: IngestResult


def apply_bodies(
    applier: Applier, conn: Connection, bodies: Sequence[BodyToApply], channels: dict[str, Channel | None]
) -> None:
    """Apply `bodies` in `conn`, oldest first, each as if at its logged arrival: R3 clamps a
    customer's timestamp to `received_at`, so a late or repeated apply gives the same T.

    Stands in for `Applier.apply_many` (set-based, issue 12b) until it lands; same contract."""
    for body in bodies:
        applier.apply(conn, body.updates, body.verdict, body.received_at, body.result, channels)

"""What the operations endpoints (/readyz, /metrics) ask of the database."""

from __future__ import annotations

from wasession.lifecycle.context import ServiceContext
from wasession.store import db, metrics
from wasession.store.metrics import GaugeCounts


def ping(ctx: ServiceContext) -> None:
    """Raises what the driver raises when the database cannot be reached."""
    db.ping(ctx.db)


def gauge_counts(ctx: ServiceContext) -> GaugeCounts:
    with ctx.db.read() as conn:
        return metrics.gauge_counts(conn, ctx.clock.now())

"""Numbers Meta sends webhooks for that no channel has (issue 26): one list for the API and the dashboard."""

from __future__ import annotations

from wasession.lifecycle.context import ServiceContext
from wasession.store import unrouted
from wasession.store.unrouted import UnroutedNumber as UnroutedNumber  # re-exported for the faces


def list_unrouted(ctx: ServiceContext, workspace_id: int) -> list[UnroutedNumber]:
    """The numbers whose webhooks an app secret of this workspace signs but no channel has, most
    recently seen first; a number drops out once a channel has it."""
    with ctx.db.read() as conn:
        return unrouted.listed(conn, workspace_id)


def notice(number: UnroutedNumber) -> str:
    return f"Meta is sending webhooks for {number.phone_number_id}, which no channel has: add it as a channel"

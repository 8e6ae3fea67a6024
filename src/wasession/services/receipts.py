"""What an agent does that the customer sees on WhatsApp without a message: the blue ticks on their last
message when the agent opens the chat, and "typing…" while the agent writes (issue 26). Both through
the Cloud API's documented call (`status: read`, `typing_indicator`), only when the channel's
`read_receipts` setting allows it, and never failing the page that asked: a receipt is a courtesy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from wasession.lifecycle.context import ServiceContext
from wasession.services import agents
from wasession.store import channels as channel_store
from wasession.store import messages as message_store
from wasession.store.channels import Channel
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.errors import CloudApiError

log = logging.getLogger("wasession.receipts")

TYPING_EVERY = timedelta(seconds=20)  # Meta shows it until the reply or 25 s: once per 20 s keeps it on


class TypingThrottle:
    """When each session last showed the typing indicator, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[int, int], datetime] = {}

    def claim(self, database: object, session_id: int, now: datetime) -> bool:
        """`database` tells apart the sessions of several databases served by one process (tests do)."""
        key = (id(database), session_id)
        with self._lock:
            last = self._last.get(key)
            if last is not None and abs(now - last) < TYPING_EVERY:
                return False
            self._last[key] = now
            if len(self._last) > 10_000:  # forget the oldest half rather than grow without bound
                for key in sorted(self._last, key=self._last.__getitem__)[:5_000]:
                    del self._last[key]
            return True


TYPING = TypingThrottle()


def mark_read(
    ctx: ServiceContext,
    client_for: Callable[[Channel], CloudClient],
    session_id: int,
    *,
    workspace_id: int | None,
    typing: bool = False,
) -> bool:
    """Mark the customer's last message of the session read (with `typing`, show "typing…" too, at most
    once per 20 s a session). Whether the call was made; another workspace's session is NotFound."""
    with ctx.db.read() as conn:
        session, channel = agents.agent_session(conn, session_id, workspace_id)
        if not channel.policy.read_receipts:
            return False
        wamid = message_store.last_inbound_wamid(conn, session.id)
        if wamid is None:
            return False
        secrets = channel_store.secrets_of(conn, ctx.box, channel.id)
    if typing and not TYPING.claim(ctx.db, session.id, ctx.clock.now()):
        return False
    try:
        client_for(channel).mark_read(
            phone_number_id=channel.phone_number_id, access_token=secrets.access_token, message_id=wamid, typing=typing
        )
    except CloudApiError as exc:
        log.info("read receipt not sent: channel=%s session=%s (%s)", channel.name, session.id, exc)
        return False
    return True

"""A real channel never runs on a fast clock (issue 23).

`serve --sandbox-speed N` runs the whole process N times faster than real time. That is only safe
while every channel on its database is a sandbox channel: a real customer's 23-hour reminder would
otherwise fall due minutes after their message. The server refuses to start beside a real channel;
while it runs it keeps a heartbeat row (`fast_clocks`, in real time), so that any other process
(the CLI, another server's API or dashboard) refuses to add a real channel, and it looks every
second for a real channel added behind its back anyway, and stops when it finds one.

A sped-up run leaves the sandbox's timeline ahead of real time. The next start moves each sandbox
channel's timeline back, whole, so its latest happening is now: nothing is left in the future, and
the order and spacing of what happened (and of what is due) are kept.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from wasession.config import SANDBOX_SPEED_OPTION
from wasession.domain.clock import SystemClock
from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import ConflictError
from wasession.store import channels as channel_store
from wasession.store import fast_clocks as fast_store
from wasession.store.channels import Channel
from wasession.store.db import Connection
from wasession.store.fast_clocks import FastClock

log = logging.getLogger(__name__)

BEAT_EVERY = 1.0  # real seconds between heartbeats, and between looks for a real channel
# A heartbeat is trusted this long: a server killed outright stops blocking other processes after it.
BEAT_TTL = timedelta(seconds=10)

_REAL = SystemClock()  # heartbeats are in real time whatever the process's own clock runs at


def running(conn: Connection, *, other_than: str | None = None) -> FastClock | None:
    """A sped-up server on this database whose heartbeat is fresh, unless it is a process of this
    machine that no longer exists."""
    found = fast_store.running(conn, _REAL.now(), other_than=other_than)
    if found is not None and _dead_here(found.owner):
        return None
    return found


def describe(clock: FastClock) -> str:
    return (
        f"a server ({clock.owner}) runs this database {clock.speed:g} times faster than real time "
        f"({SANDBOX_SPEED_OPTION})"
    )


def refuse_real_channel(conn: Connection) -> None:
    """The one check every face's "add a channel" goes through (services/channels.py)."""
    clock = running(conn)
    if clock is not None:
        raise ConflictError(
            f"{describe(clock)}, and a real channel's customers would get their reminders early: "
            f"stop that server, or restart it without {SANDBOX_SPEED_OPTION}, then add the channel",
            code="sandbox_speed",
        )


@dataclass(frozen=True)
class Beat:
    real_channels: list[Channel]


def beat(ctx: ServiceContext, owner: str, speed: float) -> Beat:
    """Renew this sped-up server's heartbeat; returns the real channels it finds (there should be none)."""
    now = _REAL.now()
    with ctx.db.write() as conn:
        fast_store.beat(conn, owner, speed, now, now + BEAT_TTL)
        real = [c for c in channel_store.list_all(conn) if not c.sandbox]
    return Beat(real)


def end(ctx: ServiceContext, owner: str) -> None:
    with ctx.db.write() as conn:
        fast_store.end(conn, owner)


def beside(ctx: ServiceContext, owner: str) -> FastClock | None:
    """Another sped-up server running on this database, which a starting server must not join."""
    with ctx.db.write() as conn:
        fast_store.forget_expired(conn, _REAL.now())
        return running(conn, other_than=owner)


def retime_sandboxes(ctx: ServiceContext) -> list[str]:
    """Move each sandbox channel's timeline back so that nothing on it is after real now; returns a
    line per channel moved, for the log and the banner."""
    now = _REAL.now()
    # The latest time lands a second before this whole second, not at `now`: a customer's message
    # carries whole seconds, and one written just after the restart must not look older than the
    # closure that now ends the timeline, or it is filed into that closed chat (R5).
    landing = now.replace(microsecond=0) - timedelta(seconds=1)
    lines = []
    with ctx.db.write() as conn:
        for channel_id in fast_store.sandbox_channel_ids(conn):
            latest = fast_store.latest_happening(conn, channel_id)
            if latest is None or latest <= now:
                continue
            offset = latest - landing
            rows = fast_store.shift_back(conn, channel_id, offset)
            lines.append(
                f"sandbox channel {channel_id} ran {_span(latest - now)} ahead of real time (a {SANDBOX_SPEED_OPTION} "
                f"run): moved its timeline back by {_span(offset)} ({rows} rows), so nothing on it is in the future"
            )
    for line in lines:
        log.warning("%s", line)
    if lines:
        ctx.wake()
    return lines


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def _dead_here(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != os.uname().nodename or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

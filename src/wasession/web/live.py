"""Live pages: a server-sent event stream per open dashboard tab that says which of the workspace's
sessions changed, so the chat list and the session page redraw themselves without a reload.

What changed is read from the workspace's own events (`events.workspace_id`), so a stream can only
ever name its agent's sessions. A write in this process wakes the streams at once (the runtime's
change listeners: ingest, agents, the engine); writes by other processes are found by a look every
`POLL` seconds, which bounds their delay. Each stream is bounded: a heartbeat comment every
`HEARTBEAT` seconds, at most `MAX_PER_USER` at once per user, and it ends when the login does (logout
or expiry), checked on every look.
"""

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep, per_runtime
from wasession.services import queries as query_service
from wasession.services import users as user_service
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.auth import COOKIE

HEARTBEAT = 15.0
POLL = 2.0
SETTLE = 0.2  # after a wake-up, let a burst of writes land before reading them
MAX_PER_USER = 4


class LiveHub:
    """Wakes every open stream when something was written; counts streams per user."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._open: Counter[int] = Counter()

    def changed(self) -> None:
        """From any thread."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the stream's loop has closed
                loop.call_soon_threadsafe(event.set)

    def open(self, user_id: int) -> asyncio.Event | None:
        """A new stream's wake-up flag, or None when the user already has MAX_PER_USER open."""
        event = asyncio.Event()
        with self._lock:
            if self._open[user_id] >= MAX_PER_USER:
                return None
            self._open[user_id] += 1
            self._waiters.add((asyncio.get_running_loop(), event))
        return event

    def close(self, user_id: int, event: asyncio.Event) -> None:
        with self._lock:
            self._open[user_id] -= 1
            self._waiters = {w for w in self._waiters if w[1] is not event}

    def streams(self, user_id: int) -> int:
        with self._lock:
            return self._open[user_id]


def hub_of(runtime: Runtime) -> LiveHub:
    """The runtime's own hub, told of its changes from its first live page on."""
    return per_runtime(runtime, LiveHub, _listening_hub)


def _listening_hub(runtime: Runtime) -> LiveHub:
    hub = LiveHub()
    runtime.change_listeners.append(hub.changed)
    return hub


def _message(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


router = APIRouter()


@router.get("/dashboard/live", include_in_schema=False)
async def live(request: Request, runtime: RuntimeDep, login: Annotated[LoginSession, Depends(auth.login)]) -> Response:
    ctx = runtime.ctx
    hub = hub_of(runtime)
    wake = hub.open(login.user_id)
    if wake is None:
        return Response(
            f"At most {MAX_PER_USER} live pages per user; close a tab.", status_code=429, media_type="text/plain"
        )
    token = request.cookies.get(COOKIE)
    try:
        last = await run_in_threadpool(query_service.last_change, ctx, workspace_id=login.workspace_id)
    except BaseException:
        hub.close(login.user_id, wake)
        raise
    flag = wake

    async def stream() -> AsyncIterator[str]:
        nonlocal last
        try:
            yield "retry: 3000\n" + _message("ready", {"last": last})
            quiet_since = time.monotonic()
            while True:
                try:
                    await asyncio.wait_for(flag.wait(), POLL)
                    await asyncio.sleep(SETTLE)
                except TimeoutError:
                    pass
                flag.clear()
                if await request.is_disconnected():
                    return
                still = await run_in_threadpool(user_service.session_for_token, ctx, token)
                if still is None:
                    yield _message("logout", {})
                    return
                changes = await run_in_threadpool(
                    query_service.changes_since, ctx, last, workspace_id=login.workspace_id
                )
                if changes.sessions or changes.last_id != last:
                    last = changes.last_id
                    quiet_since = time.monotonic()
                    yield _message(
                        "change", {"sessions": changes.sessions, "customer": changes.customer, "said": changes.said}
                    )
                elif time.monotonic() - quiet_since >= HEARTBEAT:
                    quiet_since = time.monotonic()
                    yield ": heartbeat\n\n"
        finally:
            hub.close(login.user_id, flag)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

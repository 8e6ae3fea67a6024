"""`serve`'s apply process: an `ApplyQueue` loop and the due loop (`DueWorker`) on serve's database,
reporting each applied batch and each due batch that acted back over the socket pair
(`wasession.runtime.apply_process` says why and how). serve forks the first one (`fork`); a
replacement starts as `python -m wasession.runtime.apply_child`."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from wasession.config import Settings
from wasession.engine.due import DueWorker
from wasession.engine.runner import Loop
from wasession.ingest import IngestResult
from wasession.ingest.apply_queue import ApplyQueue
from wasession.observability import forwarding, metrics
from wasession.observability.logging import configure as configure_logging
from wasession.runtime import heap
from wasession.runtime.apply_process import FD_VARIABLE, PROCESS_NAME, WAKE_APPLY, WAKE_DUE, ForkedChild
from wasession.runtime.cadence import APPLY_SWEEP, DUE_MAX_SLEEP
from wasession.runtime.core import Runtime

log = logging.getLogger(__name__)


class _Reporter:
    """The child's side of the reports: one line per applied batch, with everything serve must tell."""

    def __init__(self, sock: socket.socket, queue: ApplyQueue) -> None:
        self._sock = sock
        self._queue = queue
        self._lock = threading.Lock()
        self._lags: list[float] = []
        self._closures: list[tuple[float, float]] = []
        self._counters = forwarding.CounterDeltas()
        self._told_depth: int | None = None  # the backlog depth the last report carried

    def lags(self, lags: list[float]) -> None:
        with self._lock:
            self._lags.extend(lags)

    def closure(self, lag: float, delay: float) -> None:
        with self._lock:
            self._closures.append((lag, delay))

    def report(self, results: list[IngestResult]) -> None:
        merged = IngestResult()
        for r in results:
            merged.add(r)
        self._send(merged)

    def due_acted(self) -> None:
        """A due batch committed (reminders queued, sessions closed): serve wakes its sender and the
        loops that tell of closures, and takes the batch's counters and closures."""
        self._send(IngestResult(), due_acted=True)

    def flush(self) -> None:
        """What a step left untold (a large body's last lag, the backlog's new depth: the step counts
        it after its last batch was reported, so serve's gauge would otherwise keep the old one)."""
        with self._lock:
            pending = bool(self._lags) or self._queue.depth != self._told_depth
        if pending:
            self._send(IngestResult())

    def _send(self, merged: IngestResult, *, due_acted: bool = False) -> None:
        with self._lock:
            lags, self._lags = self._lags, []
            closures, self._closures = self._closures, []
            self._told_depth = self._queue.depth
            report = {
                "opened": merged.opened,
                "messages": merged.messages,
                "statuses": merged.statuses,
                "due_at": merged.due_at.isoformat() if merged.due_at is not None else None,
                "customers": [(pnid, user, at.isoformat()) for pnid, user, at in merged.customers],
                "counters": self._counters.take(),
                "lags": lags,
                "closures": closures,
                "depth": self._told_depth,
                "due_acted": due_acted,
            }
            self._sock.sendall(json.dumps(report).encode() + b"\n")


class _Stop(Exception):
    pass


def _raise_stop(*_: object) -> None:
    raise _Stop()


def fork() -> ForkedChild | None:
    """serve's first apply process, forked now: call it once serve has imported what it runs and before it
    opens its database or starts a thread. None when a thread runs already (a fork would copy the locks it
    holds), and off Linux (macOS's system libraries do not survive a fork without an exec): serve then
    starts its child as a new process."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return None
    ours, theirs = socket.socketpair()
    for stream in (sys.stdout, sys.stderr):  # else the child would write serve's buffered output again
        stream.flush()
    # Everything imported stays out of the child's collections, which would otherwise write to (and so
    # copy) every page it shares with serve; serve's own `heap.settle` freezes the same objects later.
    gc.freeze()
    pid = os.fork()
    if pid:
        theirs.close()
        return ForkedChild(pid, ours)
    code = 1
    try:
        ours.close()
        with open(os.devnull, "rb") as nothing:  # as a new process is started: no terminal input
            os.dup2(nothing.fileno(), 0)
        run(theirs)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        # Never serve's exit path: its atexit handlers and buffers are serve's.
        os._exit(code)


def main() -> None:
    """`python -m wasession.runtime.apply_child`: the socket pair's end is the descriptor in FD_VARIABLE."""
    run(socket.socket(fileno=int(os.environ.pop(FD_VARIABLE))))


def run(sock: socket.socket) -> None:
    # Ctrl-C in a terminal reaches the whole process group: serve stops the child itself, after its
    # requests in flight, by closing the socket. SIGTERM sent to the child alone stops it too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_stop)
    with contextlib.suppress(OSError):  # Linux only; the name is a convenience
        Path("/proc/self/comm").write_text(PROCESS_NAME)
    try:
        with sock.makefile("rb") as first:
            line = first.readline()
        if line:  # else serve ended before it started its workers
            _apply(sock, json.loads(line))
    except _Stop:
        pass
    finally:
        sock.close()


def _apply(sock: socket.socket, hello: dict[str, Any]) -> None:
    settings = Settings(**hello["settings"])
    configure_logging(hello["log_format"] or settings.log_format, settings.log_level)
    runtime = Runtime(settings)
    queue = runtime.ingestor.queue
    reporter = _Reporter(sock, queue)
    runtime.ingestor.report = reporter.report  # serve acts on what this process applied
    metrics.apply_lag_listeners.append(reporter.lags)
    metrics.closure_listeners.append(reporter.closure)
    # serve's due loop runs here, not beside serve's acks and sends: 20,000 reminders falling due at once
    # took serve's GIL and SQLite's write lock for seconds (docs/benchmarks.md, B7), while this process
    # is idle until the statuses of the first sends come back.
    due = DueWorker(runtime.ctx, batch_size=settings.engine_batch_size)

    def step() -> None:
        queue.run()
        reporter.flush()

    def due_step() -> None:
        if due.run_due().total:
            reporter.due_acted()

    loop = Loop("apply", step, lambda: None, runtime.clock, max_sleep=APPLY_SWEEP)
    due_loop = Loop("due", due_step, due.next_due_at, runtime.clock, max_sleep=DUE_MAX_SLEEP)
    heap.settle()
    loop.start()
    due_loop.start()
    log.debug("apply process %d for serve %d started", os.getpid(), hello["parent"])
    try:
        while wakes := sock.recv(4096):
            if WAKE_APPLY in wakes:
                queue.acked()
                loop.wake()
            if WAKE_DUE in wakes:
                due_loop.wake()
    except (_Stop, OSError):
        pass
    finally:
        due.stopping.set()  # finish the batch in hand, claim no more
        due_loop.stop()
        loop.stop()
        runtime.stop()


if __name__ == "__main__":
    main()

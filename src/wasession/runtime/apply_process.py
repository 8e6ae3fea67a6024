"""`serve`'s apply process: the webhook bodies `serve` logs are applied by a child process, on another core.

A Python process runs on one core at a time. Under a webhook flood one `serve` spent two thirds of
its core applying bodies and the rest acknowledging them, so each slowed the other, and the
machine's second core idled (docs/benchmarks.md, issue 12). So `serve` acknowledges (the durable
ack, HTTP, the dashboard, the engine's other loops) and starts this child to apply
(`WASESSION_APPLY_PROCESS`, on by default). Both run the same code: the child is an `ApplyQueue`
loop on the same database; only where its results are told changes.

The two talk over a Unix socket pair:

- serve to child: one line of JSON first (the settings, the secret key, the log format), then a
  byte after each ack commit: bodies wait, apply now (a byte lost to a full buffer costs at most
  APPLY_SWEEP, the loop's own sweep).
- child to serve: a line of JSON after each applied batch, with what serve must tell: its due loop
  (a due time the batch made), the sandbox's fake Cloud API (customers who wrote), the dashboard's
  live pages, `wait_applied`, and /metrics (the child's counters, apply lags and the backlog's depth).

The child ends when the socket closes, once its batch in progress commits: when serve stops, and
when serve dies (SIGKILL included), so no apply process outlives its serve. When the child dies,
serve starts another. A body the dead child had not committed is still unprocessed in the log, and
the next one applies it (applying is idempotent, R4, R15).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wasession.config import Settings
from wasession.engine.runner import Loop
from wasession.ingest import IngestResult
from wasession.observability import forwarding, metrics
from wasession.runtime.engine import APPLY_SWEEP

if TYPE_CHECKING:
    from wasession.runtime.core import Runtime

log = logging.getLogger(__name__)

FD_VARIABLE = "WASESSION_APPLY_FD"  # the child's end of the socket pair (internal)
RESTART_AFTER = 1.0  # seconds between a child's death and the next child
STOP_WAIT = 30.0  # seconds a stopping child may take to finish its batch


class ApplyProcess:
    """serve's side: starts the child, wakes it, hears its reports, starts another when it dies."""

    def __init__(self, runtime: Runtime, *, log_format: str | None) -> None:
        self.runtime = runtime
        self.log_format = log_format
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._reader = threading.Thread(target=self._hear, name="wasession-apply-reports", daemon=True)
        self._reader.start()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, FD_VARIABLE: str(theirs.fileno())}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wasession.runtime.apply_process"],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        settings = self.runtime.settings.model_dump()
        settings["secret_key"] = self.runtime.secret_key
        hello = {"settings": settings, "log_format": self.log_format, "parent": os.getpid()}
        ours.sendall(json.dumps(hello).encode() + b"\n")
        self._sock = ours

    def wake(self) -> None:
        """Bodies were logged: the child applies them now. Never blocks (called after each ack commit)."""
        sock = self._sock
        if sock is None:
            return
        # A full buffer already holds a wake-up; a dead child is restarted by `_hear`.
        with contextlib.suppress(OSError):
            sock.send(b"!", socket.MSG_DONTWAIT)

    def _hear(self) -> None:
        while True:
            sock, proc = self._sock, self._proc
            assert sock is not None and proc is not None
            # A child that dies with wake-ups unread resets the connection: the same end as EOF.
            with contextlib.suppress(OSError), sock.makefile("rb") as lines:
                for line in lines:
                    try:
                        self._told(json.loads(line))
                    except Exception:  # a report must never end the reader: the child would block
                        log.exception("apply process: could not act on a report")
            code = proc.wait()
            sock.close()
            if self._stopping.is_set():
                return
            log.error("apply process %d exited with code %s; starting another in %gs", proc.pid, code, RESTART_AFTER)
            if self._stopping.wait(RESTART_AFTER):
                return
            self._spawn()

    def _told(self, report: dict[str, Any]) -> None:
        result = IngestResult(
            opened=report["opened"],
            messages=report["messages"],
            statuses=report["statuses"],
            due_at=_instant(report["due_at"]),
            customers=[(pnid, user, datetime.fromisoformat(at)) for pnid, user, at in report["customers"]],
        )
        forwarding.add(report["counters"])
        forwarding.observe_apply_lags(report["lags"])
        queue = self.runtime.ingestor.queue
        queue.depth = report["depth"]
        metrics.APPLY_BACKLOG.set(report["depth"])
        self.runtime.ingestor.tell([result])
        queue.notify_applied()

    def stop(self) -> None:
        """The child finishes its batch and exits (killed after STOP_WAIT); then the reader ends."""
        self._stopping.set()
        sock, proc = self._sock, self._proc
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # the child reads the end of its wake-ups
        if proc is not None:
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                log.error("apply process %d did not stop within %gs; killed", proc.pid, STOP_WAIT)
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(STOP_WAIT)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# -- the child ----------------------------------------------------------------------------------------


class _Reporter:
    """The child's side of the reports: one line per applied batch, with everything serve must tell."""

    def __init__(self, sock: socket.socket, runtime: Runtime) -> None:
        self._sock = sock
        self._runtime = runtime
        self._lock = threading.Lock()
        self._lags: list[float] = []
        self._counters = forwarding.CounterDeltas()
        self._told_depth: int | None = None  # the backlog depth the last report carried

    def lags(self, lags: list[float]) -> None:
        with self._lock:
            self._lags.extend(lags)

    def report(self, results: list[IngestResult]) -> None:
        merged = IngestResult()
        for r in results:
            merged.add(r)
        self._send(merged)

    def flush(self) -> None:
        """What a step left untold (a large body's last lag, the backlog's new depth: the step counts
        it after its last batch was reported, so serve's gauge would otherwise keep the old one)."""
        with self._lock:
            pending = bool(self._lags) or self._runtime.ingestor.queue.depth != self._told_depth
        if pending:
            self._send(IngestResult())

    def _send(self, merged: IngestResult) -> None:
        with self._lock:
            lags, self._lags = self._lags, []
            self._told_depth = self._runtime.ingestor.queue.depth
            report = {
                "opened": merged.opened,
                "messages": merged.messages,
                "statuses": merged.statuses,
                "due_at": merged.due_at.isoformat() if merged.due_at is not None else None,
                "customers": [(pnid, user, at.isoformat()) for pnid, user, at in merged.customers],
                "counters": self._counters.take(),
                "lags": lags,
                "depth": self._told_depth,
            }
            self._sock.sendall(json.dumps(report).encode() + b"\n")


class _Stop(Exception):
    pass


def _raise_stop(*_: object) -> None:
    raise _Stop()


def main() -> None:
    from wasession.observability.logging import configure as configure_logging
    from wasession.runtime.core import Runtime

    # Ctrl-C in a terminal reaches the whole process group: serve stops the child itself, after its
    # requests in flight, by closing the socket. SIGTERM sent to the child alone stops it too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_stop)
    sock = socket.socket(fileno=int(os.environ.pop(FD_VARIABLE)))
    with sock.makefile("rb") as first:
        hello = json.loads(first.readline())
    settings = Settings(**hello["settings"])
    configure_logging(hello["log_format"] or settings.log_format, settings.log_level)
    runtime = Runtime(settings)
    reporter = _Reporter(sock, runtime)
    runtime.ingestor.report_to = reporter.report
    metrics.apply_lag_listeners.append(reporter.lags)
    queue = runtime.ingestor.queue

    def step() -> None:
        queue.run()
        reporter.flush()

    loop = Loop("apply", step, lambda: None, runtime.clock, max_sleep=APPLY_SWEEP)
    loop.start()
    log.debug("apply process %d for serve %d started", os.getpid(), hello["parent"])
    try:
        while sock.recv(4096):
            queue.acked()
            loop.wake()
    except (_Stop, OSError):
        pass
    finally:
        loop.stop()
        runtime.stop()
        sock.close()


if __name__ == "__main__":
    main()

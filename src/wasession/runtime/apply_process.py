"""`serve`'s apply process: the webhook bodies `serve` logs are applied by a child process, on another core.

A Python process runs on one core at a time. Under a webhook flood one `serve` spent two thirds of
its core applying bodies and the rest acknowledging them, so each slowed the other, and the
machine's second core idled (docs/benchmarks.md, issue 12). So `serve` acknowledges (the durable
ack, HTTP, the dashboard, the engine's other loops) and starts this child to apply
(`WASESSION_APPLY_PROCESS`, on by default). Both run the same code: the child is an `ApplyQueue`
loop on the same database; only where its results are told changes.

The child runs serve's due loop too (`DueWorker`). When 20,000 reminders fell due at once, the due loop
took serve's GIL and SQLite's write lock for seconds, so serve's sender claimed once per due batch and
the acks waited (docs/benchmarks.md, B7); the child is idle exactly then (no status of a first send
has come back yet), and on two cores the loop no longer shares a GIL with the acks and the sends.

The two talk over a Unix socket pair:

- serve to child: one line of JSON first (the settings, the secret key, the log format), then a
  byte at each wake-up: WAKE_APPLY after each ack commit (bodies wait, apply now), WAKE_DUE when a
  write may have made work due sooner (an API write, an applied batch's due time, another process's
  notice on PostgreSQL). A byte lost to a full buffer costs at most the loop's own sweep
  (APPLY_SWEEP, DUE_MAX_SLEEP).
- child to serve: a line of JSON after each applied batch and each due batch that acted, with what
  serve must tell: the due loop (a due time the batch made), the sender and the loops that tell of
  closures (`due_acted`), the sandbox's fake Cloud API (customers who wrote), the dashboard's live
  pages, `wait_applied`, and /metrics (the child's counters, apply lags, closures and the backlog's
  depth).

The child ends when the socket closes, once its batch in progress commits: when serve stops, and
when serve dies (SIGKILL included), so no apply process outlives its serve. When the child dies,
serve starts another. A body the dead child had not committed is still unprocessed in the log, and
the next one applies it (applying is idempotent, R4, R15).

On Linux the first child is forked from serve (`apply_child.fork`), before serve opens its database or starts a
thread: it has every module serve imported already. A child started as a new Python process spent
0.5-0.7 s of CPU importing them again, a third of what starting serve costs (issue 24). A replacement
is started as a new process (`python -m wasession.runtime.apply_child`): by then serve runs threads,
and forking a process with threads may copy a lock another thread holds. Either way the child names
itself `wasession-apply` (`ps -o comm`, `top`).

This module is serve's side; the child's entry point is `wasession.runtime.apply_child`.
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
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from wasession.config import Settings
from wasession.ingest import Ingestor, IngestResult
from wasession.observability import forwarding, metrics

log = logging.getLogger(__name__)

FD_VARIABLE = "WASESSION_APPLY_FD"  # the child's end of the socket pair (internal)
RESTART_AFTER = 1.0  # seconds between a child's death and the next child
STOP_WAIT = 30.0  # seconds a stopping child may take to finish its batch
PROCESS_NAME = "wasession-apply"  # the child's name in `ps -o comm` and `top` (Linux's 15-byte comm)
WAKE_APPLY = b"!"  # serve to child: bodies were logged
WAKE_DUE = b"d"  # serve to child: work may be due sooner than the due loop's next look


class _Child(Protocol):
    """What serve uses of its child: `subprocess.Popen`'s, or a `ForkedChild`'s."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class ForkedChild:
    """A child forked from serve (`apply_child.fork`): its pid, serve's end of the socket pair, and the part
    of Popen's interface `ApplyProcess` uses."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.returncode: int | None = None
        self._lock = threading.Lock()  # the reader thread and `stop` may both wait

    def wait(self, timeout: float | None = None) -> int:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self.returncode is None:
                    try:
                        pid, status = os.waitpid(self.pid, os.WNOHANG)
                        if pid:
                            self.returncode = os.waitstatus_to_exitcode(status)
                    except ChildProcessError:  # reaped by someone else: gone, its code unknown
                        self.returncode = -1
                if self.returncode is not None:
                    return self.returncode
            if until is not None and time.monotonic() > until:
                raise subprocess.TimeoutExpired(PROCESS_NAME, timeout or 0.0)
            # Only waited for once its socket has closed, or while serve stops: the wait is short.
            time.sleep(0.01)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class ApplyProcess:
    """serve's side: starts the child, wakes it, hears its reports, starts another when it dies."""

    def __init__(
        self,
        settings: Settings,
        secret_key: str,
        ingestor: Ingestor,
        *,
        log_format: str | None,
        forked: ForkedChild | None = None,
    ) -> None:
        self.settings = settings
        self.secret_key = secret_key  # the child must decrypt the same secrets
        self.ingestor = ingestor
        self.log_format = log_format
        self._forked = forked  # the first child, forked at serve's start; None: start one
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._proc: _Child | None = None
        self._reader: threading.Thread | None = None
        # Told after each due batch the child committed: serve wakes its sender and the loops that tell.
        self.on_due_acted: Callable[[], None] = lambda: None

    def start(self) -> None:
        if self._forked is not None:
            self._sock, self._proc = self._forked.sock, self._forked
            self._forked = None
            self._hello()
        else:
            self._spawn()
        self._reader = threading.Thread(target=self._hear, name="wasession-apply-reports", daemon=True)
        self._reader.start()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, FD_VARIABLE: str(theirs.fileno())}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wasession.runtime.apply_child"],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._sock = ours
        self._hello()

    def _hello(self) -> None:
        """The child's first line: what it needs to open the same database and log the same way."""
        assert self._sock is not None
        settings = self.settings.model_dump()
        settings["secret_key"] = self.secret_key
        hello = {"settings": settings, "log_format": self.log_format, "parent": os.getpid()}
        # A child already dead has closed its end: the reader hears the end and starts another.
        with contextlib.suppress(OSError):
            self._sock.sendall(json.dumps(hello).encode() + b"\n")

    def wake(self) -> None:
        """Bodies were logged: the child applies them now. Never blocks (called after each ack commit)."""
        self._send(WAKE_APPLY)

    def wake_due(self) -> None:
        """Work may be due sooner than the child's due loop will look: it looks now. Never blocks."""
        self._send(WAKE_DUE)

    def _send(self, wake: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        # A full buffer already holds wake-ups; a dead child is restarted by `_hear`.
        with contextlib.suppress(OSError):
            sock.send(wake, socket.MSG_DONTWAIT)

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
            # Stopped, not crashed: a SIGTERM that reached the whole process group (as `timeout`,
            # systemd and Docker send it) can stop the child (even before its own handler is set)
            # before serve marks itself stopping; serve's own stop then comes within the restart's wait.
            stopped = code in (0, -signal.SIGTERM)
            if not stopped:
                log.error(
                    "apply process %d exited with code %s; starting another in %gs", proc.pid, code, RESTART_AFTER
                )
            if self._stopping.wait(RESTART_AFTER):
                return
            if stopped:
                log.warning("apply process %d stopped (code %s); starting another", proc.pid, code)
            self._spawn()

    def _told(self, report: dict[str, Any]) -> None:
        result = IngestResult(
            opened=report["opened"],
            messages=report["messages"],
            statuses=report["statuses"],
            due_at=_instant(report["due_at"]),
            customers=[(pnid, user, datetime.fromisoformat(at)) for pnid, user, at in report["customers"]],
        )
        # The observations first: a scrape that sees a count has its histogram too.
        forwarding.observe_apply_lags(report["lags"])
        forwarding.observe_closures(report["closures"])
        forwarding.add(report["counters"])
        queue = self.ingestor.queue
        queue.depth = report["depth"]
        metrics.APPLY_BACKLOG.set(report["depth"])
        self.ingestor.act_on_applied([result])
        queue.notify_applied()
        if report["due_acted"]:
            self.on_due_acted()

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

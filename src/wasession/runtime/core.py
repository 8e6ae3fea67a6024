"""The cheap part of the composition: what every command needs, and nothing that runs by itself.

Opening a Runtime connects no socket and starts no thread; admin commands (`apikeys list`, …) use
it alone. `workers` are built on first use: `serve`, `worker`, the API's event-webhook test sends
and the Simulator use them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wasession.config import Settings, StartupError
from wasession.domain.clock import Clock, SystemClock
from wasession.ingest import Ingestor, IngestResult, prune_webhook_log
from wasession.lifecycle.context import ServiceContext
from wasession.runtime.cadence import DUE_MAX_SLEEP
from wasession.store import migrate, notify, probe
from wasession.store.db import Database, connect
from wasession.store.secrets import SecretBox, SecretKeyError, load_or_create_key

# Every `wasession` process opens a Runtime, admin commands and serve's apply process included, and
# most use none of the workers: the engines, httpx, the fake Cloud API and the apply process are
# imported where the workers are built (`workers`, `start_workers`), not by every command at start.
if TYPE_CHECKING:
    import httpx

    from wasession.engine.chatwoot_sync import ChatwootSync
    from wasession.engine.due import DueWorker
    from wasession.engine.event_dispatch import EventDispatcher
    from wasession.engine.relay import Relay
    from wasession.engine.runner import Loop
    from wasession.outbox import Sender
    from wasession.outbox.ratelimit import SharedRateLimiter
    from wasession.runtime.apply_process import ForkedChild
    from wasession.runtime.workers import LoopStep, NextAt, Workers
    from wasession.sandbox.fake_cloud import FakeCloudApi
    from wasession.store.channels import Channel
    from wasession.whatsapp.client import CloudClient

DATABASE_URL = "WASESSION_DATABASE_URL"
SECRET_KEY = "WASESSION_SECRET_KEY"
FIX_KEY = "set WASESSION_SECRET_KEY to the key the database was created with (or remove it to use the key file)"


def _refuse_key_in_work_tree(settings: Settings) -> None:
    """Checked before the database file is created, so a refused start leaves nothing behind."""
    tree = settings.key_in_work_tree()
    if tree is not None:
        raise StartupError(
            SECRET_KEY,
            f"unset, and a new key file would be created in {settings.data_dir()}, inside the git work tree {tree}",
            "keep the database outside the work tree (unset WASESSION_DATABASE_URL to use WASESSION_HOME), "
            "or set WASESSION_SECRET_KEY",
        )


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        sandbox_base_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        url = settings.normalized_database_url()
        _refuse_key_in_work_tree(settings)
        try:
            probe.backend_of(url)
            probe.check_folder(url, create=settings.uses_default_database())
            self.db: Database = connect(url, pool_size=settings.db_pool_size)
        except probe.DatabaseProblem as exc:
            raise StartupError(DATABASE_URL, exc.problem, exc.fix) from exc
        except OSError as exc:
            # With no database URL given, the folder came from WASESSION_HOME (or the user data folder).
            home = settings.uses_default_database()
            raise StartupError(
                "WASESSION_HOME" if home else DATABASE_URL,
                f"cannot create {probe.safe_url(url)} or its folder: {exc.strerror or exc}",
                FIX_HOME if home else FIX_FOLDER,
            ) from exc
        self.key_created = False
        self.key_file: Path | None = None
        key = self._load_key(settings)
        self.secret_key = key  # handed to the apply process, which must decrypt the same secrets
        try:
            self.box = SecretBox(key)
        except SecretKeyError as exc:
            self.db.dispose()
            raise StartupError(
                SECRET_KEY, "not a valid key (32 url-safe base64-encoded bytes)", "generate one with `wasession keygen`"
            ) from exc
        self.ctx = ServiceContext(self.db, self.clock, self.box, wake=self.wake)
        self.ingestor = Ingestor(
            self.ctx,
            wake=self.wake_after_ingest,
            on_logged=self.wake_apply,
            backlog_limit=settings.apply_backlog_limit,
            max_numbers=settings.webhook_max_numbers,
            unrouted_secrets=settings.webhook_unrouted_secrets,
        )
        self._http = http
        self._sandbox_base_url = sandbox_base_url
        self._workers: Workers | None = None
        self.fake: FakeCloudApi | None = None
        self.owner = f"{os.uname().nodename}:{os.getpid()}"  # names this process in wake-ups and claims
        # Called (from any thread) after a write in this process; they must return at once.
        self.change_listeners: list[Callable[[], None]] = []

    def _load_key(self, settings: Settings) -> str:
        folder = settings.data_dir()
        try:
            key, self.key_created = load_or_create_key(settings.secret_key, folder)
        except OSError as exc:
            self.db.dispose()
            raise StartupError(
                SECRET_KEY,
                f"unset, and the key file in {folder} cannot be read or created: {exc.strerror or exc}",
                "set WASESSION_SECRET_KEY (`wasession keygen` makes one) or make that folder writable",
            ) from exc
        self.key_file = folder / "wasession.key" if self.key_created else None
        return key

    # -- start-up checks ----------------------------------------------------------------------------

    def check_database(self) -> None:
        """Reach the database now (connecting is lazy), so a wrong URL is reported before anything runs."""
        try:
            probe.check_reachable(self.db)
        except probe.DatabaseProblem as exc:
            raise StartupError(DATABASE_URL, exc.problem, exc.fix) from exc

    def check_secret_key(self) -> None:
        """A well-formed but wrong key would let `serve` start and then answer every webhook 500:
        decrypt one stored credential now instead."""
        stored = probe.sample_secret(self.db)
        if stored is None:
            return
        try:
            self.box.decrypt(stored)
        except SecretKeyError as exc:
            raise StartupError(SECRET_KEY, "it does not decrypt the stored channel credentials", FIX_KEY) from exc

    def prune_webhooks(self) -> int:  # issue 3: raw webhook log retention
        return prune_webhook_log(self.ctx, self.settings.webhook_retention_days)

    def migrate(self) -> None:
        migrate.upgrade(self.db)

    @staticmethod
    def new_sqlite_database(path: Path) -> str:
        """The URL of a new SQLite database at `path`, already at the newest revision (the Simulator's)."""
        migrate.new_migrated_sqlite(path)
        return f"sqlite:///{path}"

    def schema_current(self) -> bool:
        return migrate.is_current(self.db)

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.db)

    # -- the workers, built on first use --------------------------------------------------------------

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            from wasession.runtime.workers import Workers

            self._workers = Workers(
                self.settings,
                self.ctx,
                owner=self.owner,
                apply_queue=self.ingestor.queue,
                prune_webhooks=self.prune_webhooks,
                http=self._http,
                sandbox_base_url=self._sandbox_base_url,
            )
        return self._workers

    @property
    def has_workers(self) -> bool:
        return self._workers is not None

    # The workers, for the Simulator and tests that step them by hand.
    @property
    def due(self) -> DueWorker:
        return self.workers.due

    @property
    def sender(self) -> Sender:
        return self.workers.sender

    @property
    def event_dispatch(self) -> EventDispatcher:
        return self.workers.event_dispatch

    @property
    def relay(self) -> Relay:
        return self.workers.relay

    @property
    def chatwoot(self) -> ChatwootSync:
        return self.workers.chatwoot

    @property
    def rate_limiter(self) -> SharedRateLimiter | None:
        return self.workers.rate_limiter

    @property
    def loops(self) -> list[Loop]:
        return self.workers.loops if self._workers is not None else []

    def client_for(self, channel: Channel) -> CloudClient:
        return self.workers.client_for(channel)

    def add_loop(
        self, name: str, step: LoopStep, next_at: NextAt, *, max_sleep: float = 1.0, wakeable: bool = True
    ) -> Loop:
        return self.workers.add_loop(name, step, next_at, max_sleep=max_sleep, wakeable=wakeable)

    def start_workers(
        self, *, apply_process: bool = False, log_format: str | None = None, forked: ForkedChild | None = None
    ) -> Workers:
        """`apply_process`: logged webhooks are applied by a child process (`serve`), not a loop here;
        `forked`: that child, forked at serve's start (`apply_child.fork`)."""
        if apply_process:
            from wasession.runtime.apply_process import ApplyProcess

            child = ApplyProcess(self.settings, self.secret_key, self.ingestor, log_format=log_format, forked=forked)
            child.on_due_acted = functools.partial(self.wake_local, due=False)
            self.workers.start(apply_process=child)
        else:
            self.workers.start()
        return self.workers

    def attach_fake(self, fake: FakeCloudApi) -> None:
        """Sends to the fake's numbers go to `fake`, which must hear of every customer message on them
        (it enforces the 24-hour window as Meta does): ingest tells it after each commit, so no path
        that delivers a customer's message can forget to."""
        self.fake = fake
        self.ingestor.on_customer = fake.customer_wrote

    # -- wake-ups --------------------------------------------------------------------------------------

    def wake(self) -> None:
        """After a commit that may have made work due sooner: this process's loops, then the others'
        (an admin command on PostgreSQL has no loops, but a running `serve` or `worker` hears it)."""
        self.wake_local()
        if self.db.is_postgres:
            notify.publish(self.db, self.owner)

    def wake_local(self, *, due: bool = True) -> None:
        """This process's loops and live pages. `due=False` after a batch of the apply process's due loop
        (under `serve` it runs there): the loop that just acted is not woken back."""
        if self._workers is not None:
            self._workers.wake_local(due=due)
        self._changed()

    def _changed(self) -> None:
        """Tell the listeners (the dashboard's live pages) that something may have been written."""
        for listener in self.change_listeners:
            listener()

    def wake_apply(self) -> None:
        """After an ack commit: this process's apply loop, or its apply process (`serve`), applies the
        new bodies at once (another process on PostgreSQL finds them on its next sweep, within
        APPLY_SWEEP)."""
        if self._workers is not None:
            self._workers.wake_apply()

    def wake_after_ingest(self, result: IngestResult) -> None:
        """After webhooks were applied: see Workers.wake_after_ingest. On PostgreSQL the other
        processes are told only when work became due within the due loop's longest sleep."""
        if self._workers is not None:
            due_soon = self._workers.wake_after_ingest(result)
        else:
            due_soon = result.due_at is not None and (result.due_at - self.clock.now()).total_seconds() <= DUE_MAX_SLEEP
        if due_soon and self.db.is_postgres:
            notify.publish(self.db, self.owner)
        self._changed()

    def stop(self) -> None:
        if self._workers is not None:
            self._workers.stop()
        self.ingestor.gate.close()
        self.db.dispose()


def new_secret_key() -> str:
    """A new value for WASESSION_SECRET_KEY."""
    return SecretBox.generate_key()


FIX_FOLDER = "check the folder in the URL exists or can be created, and this user may write to it"
FIX_HOME = "set WASESSION_HOME to a folder this user may write to (or set WASESSION_DATABASE_URL)"

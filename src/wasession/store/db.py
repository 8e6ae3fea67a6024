"""Database access: one `Database` object per process, SQLite (WAL) or PostgreSQL.

SQLite allows one writer at a time. Write transactions start with BEGIN IMMEDIATE so that two
writers queue on the busy timeout instead of failing mid-transaction when a read lock would have
to be upgraded; reads use a separate engine with ordinary deferred transactions so WAL readers
never wait for writers.

On SQLite the webhook log lives in a file of its own beside the database (`log_file_path`, issue
21): SQLite's one writer is per file, so the ack's group commit never waits behind an apply
transaction. `Database.log` is that file's `Database` (itself on PostgreSQL, where writers of
different rows do not block each other). The main database's reader attaches the log file, so a
read sees both (the relay, the admin listing, the backlog count); a write transaction sees one file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection as Connection  # re-exported: the type other layers pass around
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError as DataError  # re-exported: a value the database cannot store
from sqlalchemy.exc import IntegrityError as IntegrityError  # re-exported: a unique or foreign key clash
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util import LRUCache

from wasession.store.locks import WRITER_LOCK_SUFFIX, FairRLock, WriterFile
from wasession.store.schema import webhook_log
from wasession.store.types import UTCDateTime as UTCDateTime  # re-exported: the migrations import it here
from wasession.store.types import sqlite_text as sqlite_text  # re-exported: for statements sent to the driver
from wasession.store.urls import log_file_path as log_file_path  # re-exported: the migrations import it here
from wasession.store.urls import normalize_url

# SQLite's busy timeout (PRAGMA busy_timeout below); also how long a writer waits for this
# process's own write lock before giving up the same way.
SQLITE_BUSY_SECONDS = 30.0


# Values bound into one `IN (…)`: well below SQLite's and PostgreSQL's limits on bound parameters.
VALUES_PER_IN_LIST = 500

_V = TypeVar("_V")


def in_lists(values: Sequence[_V]) -> Iterator[list[_V]]:
    """`values` in order, in lists of at most `VALUES_PER_IN_LIST`: one statement each."""
    for start in range(0, len(values), VALUES_PER_IN_LIST):
        yield list(values[start : start + VALUES_PER_IN_LIST])


def sqlite_driver(conn: Connection) -> Any | None:
    """The sqlite3 connection under `conn` (its transaction included), None on another database:
    for the few statements so hot that SQLAlchemy's per-row work costs more than they do."""
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.driver_connection


def executemany(conn: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """`conn.execute(statement, rows)`: one statement, many rows that all name the same keys.

    On SQLite the statement is compiled once per set of keys and each row bound straight by its columns'
    own processors (`_DriverForm`): SQLAlchemy's per-row work cost about 14 µs a row on top of the
    driver's, and a send's loop writes some sixteen rows (due, claim, record, three statuses applied)."""
    if len(rows) < 2 or conn.dialect.name != "sqlite":
        conn.execute(statement, list(rows))
        return
    form = _driver_form(conn.dialect, statement, tuple(rows[0]))
    if form is None:
        conn.execute(statement, list(rows))
        return
    conn.exec_driver_sql(form.sql, [form.bind(row) for row in rows])


@dataclass(frozen=True)
class _DriverForm:
    """A statement as SQLite's driver takes it: its SQL, and for each `?` the key it binds (None for a
    value fixed in the statement), the value when fixed, and the column type's bind processor."""

    sql: str
    binds: tuple[tuple[str | None, Any, Any], ...]

    def bind(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        bound = []
        for key, value, process in self.binds:
            if key is not None:
                value = row[key]
            bound.append(value if process is None else process(value))
        return tuple(bound)


# The hot statements are module constants, each run with a few sets of keys.
_FORMS: dict[tuple[int, tuple[str, ...]], tuple[UpdateBase, _DriverForm | None]] = {}
_MAX_FORMS = 512


def _driver_form(dialect: Any, statement: UpdateBase, keys: tuple[str, ...]) -> _DriverForm | None:
    """Cached by statement and keys (the statement is kept, so its id is never reused); None when the
    statement needs what only SQLAlchemy's own path does (expanding or computed binds, Python-side
    defaults): then it takes that path."""
    cached = _FORMS.get((id(statement), keys))
    if cached is not None:
        return cached[1]
    if len(_FORMS) >= _MAX_FORMS:  # a caller building its statement per call: SQLAlchemy's path, no growth
        return None
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    form: _DriverForm | None = None
    if compiled.positiontup is not None and not compiled.insert_prefetch and not compiled.update_prefetch:
        binds: list[tuple[str | None, Any, Any]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None or bind.literal_execute:
                break
            key = bind.key if bind.key in keys else None
            if key is None and bind.required:
                break  # a key the rows lack: SQLAlchemy's own path names it in its error
            binds.append((key, bind.value, bind.type.bind_processor(dialect)))
        else:
            form = _DriverForm(compiled.string, tuple(binds))
    _FORMS[(id(statement), keys)] = (statement, form)
    return form


# The schema name the main database's readers attach the log file under (unqualified names find it).
LOG_SCHEMA = "webhooks"

# SQLAlchemy keeps the statements it compiled per engine, keyed on the engine's dialect object. A process
# opens several engines on one server (on SQLite a writer and a reader for the database and two for its
# webhook log; the Simulator and the tests a set per runtime), all made below with the same dialect options,
# so they share one dialect and one cache of compiled statements: each statement is compiled once a process,
# not once an engine. A Simulator compiled some 50 statements again, a fifth of a service test's CPU.
STATEMENT_CACHE_SIZE = 1500  # the distinct statements of the whole app with room to spare (SQLAlchemy: 500 an engine)
_SHARED: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_SHARED_LOCK = threading.Lock()


def _shared_statements(engine: Engine) -> Engine:
    """`engine`, compiling into the dialect and statement cache of the first engine made for the same server
    (for SQLite: the same library) with the same kind of dialect."""
    url = engine.url
    key = (type(engine.dialect), url.host, url.port)
    with _SHARED_LOCK:
        dialect, cache = _SHARED.setdefault(key, (engine.dialect, LRUCache(STATEMENT_CACHE_SIZE)))
    if dialect is not engine.dialect:
        if dialect.server_version_info is None:
            # The first engine has not connected yet, so its dialect does not know the server: this
            # engine keeps its own, which its own first connection sets up.
            return engine
        engine.dialect = dialect
    return engine.execution_options(compiled_cache=cache)


def _sqlite_engine(url: str, *, immediate: bool, attach: Path | None = None) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" hook below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power loss can drop the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        if attach is not None:
            cursor.execute(f"ATTACH DATABASE ? AS {LOG_SCHEMA}", (str(attach),))
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return _shared_statements(engine)


@dataclass
class Database:
    url: str
    writer: Engine
    reader: Engine
    # SQLite: the threads of this process take turns for the one write lock here, in arrival order
    # and handed over the moment it is free, instead of in SQLite's busy handler, which sleeps up to
    # 100 ms between tries and leaves the lock idle meanwhile (issue 6). Processes take turns the
    # same way on a lock file beside the database (`serve` and its apply process write at once).
    _local_writer: FairRLock | None = field(default=None, repr=False)
    _file_writer: WriterFile | None = field(default=None, repr=False)
    _log: Database | None = field(default=None, repr=False)

    @property
    def log(self) -> Database:
        """Where the webhook log is written: its own file (and its own writer lock) on SQLite,
        this database elsewhere."""
        return self._log or self

    @property
    def log_apart(self) -> bool:
        """The log is another file: what applies a body marks it in a second transaction."""
        return self._log is not None

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception."""
        lock = self._local_writer
        if lock is None:
            with self.writer.begin() as conn:
                yield conn
            return
        if not lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked (by this process)"))
        across = self._file_writer if lock.outermost else None  # re-entered: the outer block holds it
        try:
            if across is not None:
                try:
                    across.acquire(SQLITE_BUSY_SECONDS)
                except TimeoutError as exc:
                    raise OperationalError("BEGIN IMMEDIATE", None, Exception(f"database is locked: {exc}")) from exc
            try:
                with self.writer.begin() as conn:
                    yield conn
            finally:
                if across is not None:
                    across.release()
        finally:
            lock.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
        if self._log is not None:
            self._log.dispose()


# A claim is a transaction holding row locks; if its client hangs without dropping the connection
# (a frozen VM, a half-open socket), the server ends the session after this long and the rows go
# back to the other workers. Batches take seconds, so this is far beyond any healthy transaction.
IDLE_IN_TRANSACTION_TIMEOUT = "2min"
# TCP keepalives find a dead peer in about a minute instead of the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def libpq_conninfo(url: str) -> str:
    """The database URL as libpq understands it, for the dedicated psycopg connections
    (LISTEN, rate-limit slots) that live outside SQLAlchemy's pool."""
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a restarted server leaves dead connections in the pool
        pool_timeout=30,
        connect_args={**KEEPALIVES, "connect_timeout": 10},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'")
        dbapi_connection.autocommit = autocommit

    return _shared_statements(engine)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only; SQLite gives its -wal and -shm files the
    database file's mode. An existing file keeps the mode it has."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, 0o600)  # the umask could only have narrowed it further; make it exact


def _sqlite_database(url: str, *, attach: Path | None = None, log: Database | None = None) -> Database:
    path = make_url(url).database
    assert path
    _create_private(Path(path))
    # Each file its own writer lock: the ack (log file) and the apply (main file) never take turns.
    writer = WriterFile(Path(path + WRITER_LOCK_SUFFIX))
    reader = _sqlite_engine(url, immediate=False, attach=attach)
    return Database(url, _sqlite_engine(url, immediate=True), reader, FairRLock(), writer, log)


def connect(url: str, *, pool_size: int = 10) -> Database:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("in-memory SQLite is not supported: processes and threads must share one file")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        log = _sqlite_database(parsed.set(database=str(log_file_path(parsed.database))).render_as_string(False))
        # Created here, not by a migration: the file is new on every fresh install and after an
        # upgrade from 0012 (migration 0013 moves the old rows into it). Looked for with a read
        # first, so a process starting beside a busy ack does not queue for the log's write lock.
        with log.read() as conn:
            exists = conn.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{webhook_log.name}'").first()
        if exists is None:
            webhook_log.create(log.writer, checkfirst=True)
        return _sqlite_database(url, attach=log_file_path(parsed.database), log=log)
    if parsed.get_backend_name() == "postgresql":
        engine = _postgres_engine(url, pool_size)
        return Database(url, engine, engine)
    raise ValueError(f"database URL {parsed.render_as_string(hide_password=True)!r}: use sqlite:///… or postgresql://…")


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint inside `conn`'s transaction: if the block raises, what it wrote is undone alone
    (the exception goes on) and the transaction carries on without it."""
    with conn.begin_nested():
        yield


def ping(db: Database) -> None:
    """One round trip to the database; raises what the driver raises when it cannot be reached."""
    with db.read() as conn:
        conn.execute(text("SELECT 1"))

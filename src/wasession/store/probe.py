"""Start-up checks of the database URL and the database itself, with the driver's errors turned into
a sentence a person can act on (the CLI prints it as one line, not a traceback)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from wasession.store.db import Database
from wasession.store.schema import channels


class DatabaseProblem(Exception):
    """What is wrong with the database URL or the database, and how to fix it."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


FIX_URL = "use sqlite:///path/file.sqlite3 or postgresql://user@host:port/database"


def backend_of(url: str) -> str:
    """'sqlite' or 'postgresql'; anything else is refused here rather than deep inside SQLAlchemy."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblem(f"{url!r} is not a database URL", FIX_URL) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseProblem(f"{safe_url(url)!r} uses {backend!r}, which is not supported", FIX_URL)
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        # serve, its apply process and the CLI must share one database: a memory one is each's own.
        raise DatabaseProblem(
            f"{safe_url(url)!r} is an in-memory SQLite database, which no other process or connection can see",
            "use sqlite:///path/file.sqlite3",
        )
    return backend


def sqlite_file(url: str) -> Path | None:
    """The SQLite file of a sqlite:/// URL, None for any other URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database)
    return None


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def check_folder(url: str, *, create: bool = True) -> None:
    """A SQLite file's folder must be a folder this process can create files in. `create=False` for a
    URL the user typed: a missing folder is more likely a typo than a wish for a new one, and
    creating it would leave a folder, a key and an empty database behind the mistake (issue 23)."""
    path = sqlite_file(url)
    if path is None:
        return
    folder = path.resolve().parent
    if not create and not folder.exists():
        raise DatabaseProblem(
            f"the folder {folder} does not exist",
            "check the path for a typo, or create the folder first: nothing is created for a folder that is not there",
        )
    if folder.exists() and not folder.is_dir():
        raise DatabaseProblem(f"{folder} is a file, not a folder", "point the URL at a file in a folder")
    if path.exists() and path.is_dir():
        raise DatabaseProblem(f"{path} is a folder, not a SQLite file", "point the URL at a file, not a folder")


def check_reachable(db: Database) -> None:
    """Connect and, on SQLite, take the write lock once: a read-only file or folder fails here, at
    start, instead of at the first webhook."""
    try:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        if db.is_sqlite:
            _try_write(db)
    except DBAPIError as exc:
        raise DatabaseProblem(_problem(db, exc), _fix(db)) from exc
    except OSError as exc:
        raise DatabaseProblem(f"cannot open {safe_url(db.url)}: {exc.strerror or exc}", _fix(db)) from exc


class _RollBack(Exception):
    pass


def _try_write(db: Database) -> None:
    """Write once and roll it back: SQLite opens a file it may not write read-only, without saying
    so, and only refuses the first write statement."""
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE _wasession_write_probe (x INTEGER)"))
            raise _RollBack
    except _RollBack:
        pass


def _problem(db: Database, exc: DBAPIError) -> str:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    return f"cannot use {safe_url(db.url)}: {first}"


def _fix(db: Database) -> str:
    if db.is_sqlite:
        return "check that the file and its folder exist and this user may read and write them"
    return "check that PostgreSQL is running there and the URL's user, password and database are right"


def sample_secret(db: Database) -> str | None:
    """One stored encrypted credential, to check the secret key against; None with no channel yet."""
    with db.read() as conn:
        value = conn.execute(select(channels.c.app_secret_enc).order_by(channels.c.id).limit(1)).scalar()
    return None if value is None else str(value)

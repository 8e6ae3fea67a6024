"""Schema migrations with Alembic, run programmatically so an installed package needs no alembic.ini.

Alembic is imported only when there is something to migrate: `serve` checks the schema at every
start and /readyz on every probe, and importing Alembic costs a tenth of the start-up time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from wasession.store.db import Database, connect

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions; tests/service/store/test_migrations.py checks it against Alembic.
HEAD = "0019_team_features"


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.reader.connect() as conn:
        try:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError:  # no alembic_version table: nothing migrated yet
            return None
    return versions[0] if len(versions) == 1 else None


def is_current(db: Database) -> bool:
    return current_revision(db) == HEAD


def upgrade(db: Database, revision: str = "head") -> None:
    if revision == "head" and is_current(db):
        return
    from alembic import command

    cfg = _config()
    with db.writer.begin() as conn:
        if db.is_postgres:
            # Several processes may start at once; one migrates, the others wait for it.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7461001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def revision(db: Database, message: str) -> None:
    """Developer helper: autogenerate a new revision against `db` (which must be at head)."""
    from alembic import command

    cfg = _config()
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


_template: Path | None = None
_template_lock = threading.Lock()


def new_migrated_sqlite(path: Path) -> None:
    """Put an empty SQLite database at the newest revision at `path` (which must not exist yet), copied
    from one this process migrated once. Running the migrations costs more than the rest of a
    Simulator's start, and the Simulator makes a fresh database for every test; a copy of the same
    migrated file is the same database."""
    global _template
    with _template_lock:
        if _template is None or not _template.exists():
            folder = Path(tempfile.mkdtemp(prefix="wasession-template-"))
            atexit.register(shutil.rmtree, folder, True)
            template = folder / "template.sqlite3"
            db = connect(f"sqlite:///{template}")
            try:
                upgrade(db)
            finally:
                db.dispose()  # the last connection to close checkpoints the WAL into the main file
            wal = template.with_name(template.name + "-wal")
            if wal.exists() and wal.stat().st_size:
                raise RuntimeError(f"{wal} still holds pages after every connection closed")
            _template = template
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private, as `connect` makes it
        with os.fdopen(fd, "wb") as out, _template.open("rb") as source:
            shutil.copyfileobj(source, out)

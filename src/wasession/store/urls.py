"""Database URLs and file names, without SQLAlchemy: the settings need them to name the default
database, and every `wasession` command loads the settings (`--help` included) before it knows
whether it will open the database at all."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SQLITE_FILE = "wasession.sqlite3"


def normalize_url(url: str) -> str:
    """Accept `postgresql://` (the common spelling) and route it to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def default_url(data_dir: str | os.PathLike[str] | None = None) -> str:
    base = Path(data_dir) if data_dir is not None else Path.cwd()
    return f"sqlite:///{(base / DEFAULT_SQLITE_FILE).resolve()}"


def log_file_path(database: str | os.PathLike[str]) -> Path:
    """The SQLite file holding the webhook log beside `database`: `wasession.sqlite3` ->
    `wasession-webhooks.sqlite3`. A backup copies both (docs/deploy.md)."""
    path = Path(database)
    return path.with_name(f"{path.stem}-webhooks{path.suffix}")

"""Settings from WASESSION_* environment variables (and CLI flags that override them)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic import ValidationError as SettingsInvalid
from pydantic_settings import BaseSettings, SettingsConfigDict

from wasession.store.urls import default_url, log_file_path, normalize_url

# Every `wasession` command loads the settings, `wasession --help` included: store.probe (SQLAlchemy
# parses the URL) and store.secrets (cryptography) are imported in the methods that use them, which
# run once a command opens the database.

ENV_PREFIX = "WASESSION_"
# `serve`'s flag for a faster clock, which the services name in their refusals (services/fast_clock.py).
SANDBOX_SPEED_OPTION = "--sandbox-speed"

# Where the SQLite database and the secret key live when no setting says otherwise: one folder per
# user (the platform's user data folder, or WASESSION_HOME), never the working directory, so every
# command finds the server's database wherever it is run from.
APP = "wasession"


def user_data_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """The platform's per-user data folder for wasession (XDG on Linux and other Unixes)."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or env.get("APPDATA")
        return Path(base) / APP if base else Path.home() / "AppData" / "Local" / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share") / APP


def home_dir(home: str | None) -> Path:
    """WASESSION_HOME when set, else the platform's user data folder; always absolute."""
    return Path(home).expanduser().resolve() if home else user_data_dir()


def git_work_tree(folder: Path) -> Path | None:
    """The git work tree `folder` is inside, if any: a key file there is one `git add .` from leaking."""
    for candidate in (folder.resolve(), *folder.resolve().parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class StartupError(Exception):
    """A setting that keeps the service from starting: the CLI prints it as one line and exits 2."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        super().__init__(f"{setting}: {problem}; {fix}")
        self.setting = setting


# A Graph API version as Meta names them; anything else (`../`, a path) would change where requests go.
GRAPH_VERSION = re.compile(r"^v\d{1,2}\.\d$")


def check_graph_version(value: str) -> str:
    if not GRAPH_VERSION.fullmatch(value):
        raise ValueError(f"graph_version must look like v25.0 (v, one or two digits, a dot, a digit); got {value!r}")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # The folder for the default SQLite file and the generated key (WASESSION_HOME); unset: the
    # platform's user data folder (user_data_dir). Never the working directory.
    home: str | None = None
    database_url: str = ""  # unset: sqlite in home_dir()
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None  # how Meta (and the sandbox) reach this server; default http://host:port
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v25.0"
    engine_batch_size: int = Field(default=500, ge=1, le=100_000)
    sender_concurrency: int = Field(default=32, ge=2, le=1_000)
    db_pool_size: int = Field(default=10, ge=1, le=1_000)  # PostgreSQL connections per process (twice at peak)
    log_level: str = "INFO"  # DEBUG, INFO, WARNING, ERROR or CRITICAL
    log_format: str | None = None  # json or text; unset: text at a terminal, else json
    # `worker` serves its counters on 127.0.0.1:<port>/metrics (serve has /metrics); unset: none.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    webhook_retention_days: int = Field(default=30, ge=1)  # issue 3: raw webhook log retention
    # Issue 12: logged webhook bodies waiting to be applied beyond which /readyz says not ready.
    apply_backlog_limit: int = Field(default=50_000, ge=1, le=100_000_000)
    # `serve` applies logged webhooks and runs the due loop in a child process, on a core of its own
    # (runtime/apply_process.py).
    apply_process: bool = True
    # The HTTP front (docs/security.md): body sizes in bytes, times in seconds.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_import_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_webhook_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    # Issue 25/26 (docs/security.md, ingest/gate.py): distinct phone_number_ids one webhook body may
    # name (Meta's own name one), and how many distinct app secrets (one per Meta app) a body naming
    # only numbers no channel has is tried against.
    webhook_max_numbers: int = Field(default=10, ge=1, le=1000)
    webhook_unrouted_secrets: int = Field(default=8, ge=0, le=1000)
    header_timeout: float = Field(default=10.0, gt=0, le=600)
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    keepalive_timeout: int = Field(default=5, ge=1, le=600)
    max_connections: int = Field(default=1000, ge=10, le=1_000_000)
    backlog: int = Field(default=1024, ge=16, le=65_535)
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_minutes: int = Field(default=15, ge=1)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    metrics_token: str | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`
    # Hosts and CIDRs event webhooks may reach besides public addresses, e.g. "crm.lan,10.0.0.0/8"
    # (docs/security.md); empty: public addresses only.
    outbound_allow: str = ""

    @field_validator("log_format", "metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in ("json", "text"):
            raise ValueError("use json or text")
        return value.lower() if value is not None else None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("graph_version")
    @classmethod
    def _graph_version(cls, value: str) -> str:
        return check_graph_version(value)

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: str) -> str:
        from wasession.outbound.addresses import AddressPolicy

        AddressPolicy.parse(value)  # refuse a typo at start-up rather than at the first delivery
        return value

    # Channels one workspace may hold; WASESSION_MAX_CHANNELS_PER_WORKSPACE.
    max_channels_per_workspace: int = Field(default=100, ge=1)
    # Issue 25, fair sharing of outbound delivery (docs/security.md): forward targets and event webhooks
    # one workspace may have, and the threads of each delivery pool (8) its receivers may hold at once.
    max_forwards_per_workspace: int = Field(default=50, ge=1, le=100_000)
    max_event_webhooks_per_workspace: int = Field(default=20, ge=1, le=100_000)
    delivery_threads_per_workspace: int = Field(default=4, ge=1, le=8)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = default_url(self.home_dir())
        return self

    def normalized_database_url(self) -> str:
        return normalize_url(self.database_url)

    def home_dir(self) -> Path:
        return home_dir(self.home)

    def data_dir(self) -> Path:
        """Where the generated secret key lives: beside the SQLite file, else the home folder."""
        from wasession.store.probe import sqlite_file  # lazily: see the note on the imports

        path = sqlite_file(self.normalized_database_url())
        return path.resolve().parent if path is not None else self.home_dir()

    def uses_default_database(self) -> bool:
        return self.normalized_database_url() == default_url(self.home_dir())

    def safe_database_url(self) -> str:
        from wasession.store.probe import safe_url  # lazily: see the note on the imports

        return safe_url(self.normalized_database_url())

    def webhook_log_file(self) -> Path | None:
        """On SQLite, the webhook log's own file beside the database (a backup copies both); None
        on PostgreSQL, where the log is a table of the database."""
        from wasession.store.probe import sqlite_file  # lazily: see the note on the imports

        path = sqlite_file(self.normalized_database_url())
        return log_file_path(path.resolve()) if path is not None else None

    def key_file(self) -> Path | None:
        """The key file this process reads or creates; None when WASESSION_SECRET_KEY holds the key."""
        from wasession.store.secrets import KEY_FILE_NAME  # lazily: see the note on the imports

        return None if self.secret_key else self.data_dir() / KEY_FILE_NAME

    def key_in_work_tree(self) -> Path | None:
        """The git work tree a new key file would be created in (refused: it would sit beside tracked
        files), or None. A key already there, or a key given in WASESSION_SECRET_KEY, is used as is."""
        from wasession.store.secrets import KEY_FILE_NAME  # lazily: see the note on the imports

        folder = self.data_dir()
        if self.secret_key or (folder / KEY_FILE_NAME).exists():
            return None
        if self.home is None and self.uses_default_database():
            # The platform's data folder may sit in a home directory kept in git (dotfiles); the user
            # chose no folder, so there is nothing better to offer than the platform's own.
            return None
        return git_work_tree(folder)

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `overrides`; a bad value is a StartupError naming it."""
    try:
        return Settings(**overrides)
    except SettingsInvalid as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
        problem = f"{first['msg'][:1].lower()}{first['msg'][1:]}, got {first.get('input')!r}"
        raise StartupError(name, problem, f"correct or unset {name}") from exc

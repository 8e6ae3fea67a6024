"""Settings from WASESSION_* environment variables (and CLI flags that override them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic import ValidationError as SettingsInvalid
from pydantic_settings import BaseSettings, SettingsConfigDict

from wasession.store.db import default_url, normalize_url
from wasession.store.probe import sqlite_file

ENV_PREFIX = "WASESSION_"


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

    database_url: str = Field(default_factory=default_url)
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None  # how Meta (and the sandbox) reach this server; default http://host:port
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v25.0"
    engine_batch_size: int = Field(default=500, ge=1, le=100_000)
    sender_concurrency: int = Field(default=32, ge=2, le=1_000)
    db_pool_size: int = Field(default=10, ge=1, le=1_000)  # PostgreSQL connections per process (twice at peak)
    log_level: str = "INFO"
    webhook_retention_days: int = Field(default=30, ge=1)  # issue 3: raw webhook log retention
    # Issue 12: logged webhook bodies waiting to be applied beyond which /readyz says not ready.
    apply_backlog_limit: int = Field(default=50_000, ge=1, le=100_000_000)
    # The HTTP front (docs/security.md): body sizes in bytes, times in seconds.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_import_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_webhook_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
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

    def normalized_database_url(self) -> str:
        return normalize_url(self.database_url)

    def data_dir(self) -> Path:
        """Where the generated secret key lives: beside the SQLite file, else the working directory."""
        path = sqlite_file(self.normalized_database_url())
        return path.resolve().parent if path is not None else Path.cwd()

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

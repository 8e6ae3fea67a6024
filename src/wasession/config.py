"""Settings from WASESSION_* environment variables (and CLI flags that override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
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

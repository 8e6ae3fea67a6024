"""Settings from WASESSION_* environment variables (and CLI flags that override them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from wasession.store.db import default_url, normalize_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WASESSION_", extra="ignore")

    database_url: str = Field(default_factory=default_url)
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # how Meta (and the sandbox) reach this server; default http://host:port
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v25.0"
    engine_batch_size: int = Field(default=500, ge=1, le=100_000)
    sender_concurrency: int = Field(default=32, ge=2, le=1_000)
    db_pool_size: int = Field(default=10, ge=1, le=1_000)  # PostgreSQL connections per process (twice at peak)
    log_level: str = "INFO"
    webhook_retention_days: int = Field(default=30, ge=1)  # issue 3: raw webhook log retention
    # Channels one workspace may hold; WASESSION_MAX_CHANNELS_PER_WORKSPACE.
    max_channels_per_workspace: int = Field(default=100, ge=1)

    def normalized_database_url(self) -> str:
        return normalize_url(self.database_url)

    def data_dir(self) -> Path:
        """Where the generated secret key lives: beside the SQLite file, else the working directory."""
        url = make_url(self.normalized_database_url())
        if url.get_backend_name() == "sqlite" and url.database:
            return Path(url.database).resolve().parent
        return Path.cwd()

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

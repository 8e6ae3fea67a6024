from __future__ import annotations

import pytest
from pydantic import ValidationError

from wasession.config import Settings


@pytest.mark.parametrize(
    ("name", "value"),
    [("WASESSION_SENDER_CONCURRENCY", "1"), ("WASESSION_ENGINE_BATCH_SIZE", "0"), ("WASESSION_DB_POOL_SIZE", "0")],
)
def test_engine_sizes_out_of_range_are_refused_naming_the_setting(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.removeprefix("WASESSION_").lower() in str(caught.value)


def test_the_pool_size_reaches_the_postgresql_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASESSION_DB_POOL_SIZE", "3")
    from wasession.store.db import connect

    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/none")
    db = connect(settings.normalized_database_url(), pool_size=settings.db_pool_size)
    assert db.writer.pool.size() == 3  # type: ignore[attr-defined]
    db.dispose()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WASESSION_LOG_LEVEL", "LOUD"), ("WASESSION_LOG_FORMAT", "xml"), ("WASESSION_METRICS_PORT", "99999")],
)
def test_logging_and_metrics_settings_are_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from wasession.config import StartupError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(StartupError) as refused:
        load_settings()
    assert refused.value.setting == variable
    assert value in str(refused.value) and f"correct or unset {variable}" in str(refused.value)


def test_logging_and_metrics_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASESSION_LOG_LEVEL", "debug")
    monkeypatch.setenv("WASESSION_LOG_FORMAT", "TEXT")
    monkeypatch.setenv("WASESSION_METRICS_PORT", "9100")
    settings = Settings()
    assert (settings.log_level, settings.log_format, settings.metrics_port) == ("DEBUG", "text", 9100)
    monkeypatch.setenv("WASESSION_METRICS_PORT", "")  # set but empty: unset, as before
    assert Settings().metrics_port is None

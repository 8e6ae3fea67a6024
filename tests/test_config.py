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

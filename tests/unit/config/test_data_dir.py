"""Where the data folder is on each platform, and which setting wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasession import config
from wasession.config import Settings, user_data_dir


def test_linux_uses_xdg_data_home_when_absolute_else_local_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.sys, "platform", "linux")
    home = Path.home()
    assert user_data_dir({}) == home / ".local" / "share" / "wasession"
    assert user_data_dir({"XDG_DATA_HOME": "/srv/data"}) == Path("/srv/data/wasession")
    assert user_data_dir({"XDG_DATA_HOME": "relative/x"}) == home / ".local" / "share" / "wasession"


def test_macos_and_windows_use_their_own_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.sys, "platform", "darwin")
    assert user_data_dir({}) == Path.home() / "Library" / "Application Support" / "wasession"
    monkeypatch.setattr(config.sys, "platform", "win32")
    assert user_data_dir({"LOCALAPPDATA": "C:/Users/ana/AppData/Local"}) == Path("C:/Users/ana/AppData/Local/wasession")


def test_wasession_home_places_the_database_and_key_and_an_explicit_url_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WASESSION_DATABASE_URL", raising=False)
    monkeypatch.setenv("WASESSION_HOME", str(tmp_path / "h"))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'h' / 'wasession.sqlite3'}"
    assert settings.key_file() == tmp_path / "h" / "wasession.key"
    assert settings.uses_default_database()
    explicit = Settings(database_url=f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    assert explicit.key_file() == tmp_path / "wasession.key" and not explicit.uses_default_database()
    postgres = Settings(database_url="postgresql://u@db/x")
    assert postgres.key_file() == tmp_path / "h" / "wasession.key", "with PostgreSQL the key file is in the data folder"
    assert Settings(secret_key="k").key_file() is None

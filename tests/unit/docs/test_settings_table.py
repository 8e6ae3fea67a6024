"""Issue 23: the README's configuration table names every setting the service reads."""

from __future__ import annotations

from pathlib import Path

from wasession.config import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        ENV_PREFIX + name.upper() for name in Settings.model_fields if f"`{ENV_PREFIX}{name.upper()}`" not in text
    ]
    assert not missing, f"add these to the README's Configuration table: {missing}"

"""Encryption at rest for channel credentials (they must be read back: the app secret checks
signatures, the token authorises sends), so they are encrypted rather than hashed."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE_NAME = "wasession.key"


class SecretKeyError(RuntimeError):
    pass


class SecretBox:
    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "WASESSION_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded bytes "
                "(generate one with `wasession keygen`)"
            ) from exc

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with this WASESSION_SECRET_KEY; "
                "use the key the database was created with"
            ) from exc


def load_or_create_key(key: str | None, key_dir: Path) -> tuple[str, bool]:
    """The configured key, else the key file in `key_dir`, else a new key file. Returns (key, created)."""
    if key:
        return key, False
    path = key_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_text().strip(), False
    key_dir.mkdir(parents=True, exist_ok=True)
    new_key = SecretBox.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new_key + "\n")
    return new_key, True

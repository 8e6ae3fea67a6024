"""The one error the domain raises for bad user input."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad user input.

    `field` names the setting, `code` is a stable machine code for API clients, and `message` is
    human text naming the field, the value given and the allowed range; `str(error)` is the message.
    """

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"ValidationError(field={self.field!r}, code={self.code!r}, message={self.message!r})"

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


class ValidationErrors(ValidationError):
    """Every bad field of one request, so a user fixes them all in one go. It reads as its first error
    (field, code) to code that expects one; `errors` holds them all, `message` joins them."""

    def __init__(self, errors: list[ValidationError]) -> None:
        if not errors:
            raise ValueError("ValidationErrors needs at least one error")
        first = errors[0]
        message = first.message if len(errors) == 1 else "; ".join(e.message for e in errors)
        super().__init__(first.field, message, first.code)
        self.errors = list(errors)

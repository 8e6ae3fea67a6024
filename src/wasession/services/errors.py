"""Errors a user can cause, mapped to one JSON error shape at the faces."""

from __future__ import annotations

from datetime import datetime

from wasession.domain.errors import ValidationError
from wasession.store.db import DataError

__all__ = ["ConflictError", "DataError", "NotFoundError", "UpstreamError", "ValidationError", "WindowClosedError"]


class NotFoundError(LookupError):
    code = "not_found"

    def __init__(self, what: str, ident: object) -> None:
        self.message = f"{what} {ident} not found"
        self.field: str | None = None
        super().__init__(self.message)


class ConflictError(Exception):
    code = "conflict"

    def __init__(self, message: str, code: str = "conflict", field: str | None = None) -> None:
        self.message = message
        self.code = code
        self.field = field
        super().__init__(message)


class UpstreamError(Exception):
    """Meta's Graph API could not be asked (unreachable, or it answered with a server error)."""

    code = "graph_unavailable"

    def __init__(self, message: str) -> None:
        self.message = message
        self.field: str | None = None
        super().__init__(message)


class WindowClosedError(ConflictError):
    """R13: free-form messages are only allowed inside the 24-hour window."""

    def __init__(self, closed_at: datetime) -> None:
        self.closed_at = closed_at
        super().__init__(
            f"the customer service window closed at {closed_at.isoformat()}; send an approved template instead",
            code="window_closed",
        )

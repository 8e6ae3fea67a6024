"""What ingesting one body did: counts for the raw log, and what must be told after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wasession.store.webhook_log import Outcome


@dataclass
class IngestResult:
    log_id: int | None = None
    messages: int = 0
    opened: int = 0
    duplicates: int = 0
    statuses: int = 0
    others: int = 0
    groups: int = 0
    unroutable: list[str] = field(default_factory=list)
    # Changes addressed to a channel whose app secret does not sign the body: never applied.
    refused: list[str] = field(default_factory=list)
    error: str | None = None
    # The same bytes were stored before (a replay): nothing new was stored or applied.
    replay: bool = False
    # The earliest due time this body gave a session (None: it scheduled nothing); a status of a
    # reminder may re-plan its session, so it counts as due now. For waking the due loop only.
    due_at: datetime | None = None
    # Window-opening customer messages as (phone_number_id, wa_id or user_id, T): after the commit
    # they are told to whoever must know that a customer wrote (the built-in fake Cloud API).
    customers: list[tuple[str, str, datetime]] = field(default_factory=list)

    def scheduled(self, due_at: datetime | None) -> None:
        if due_at is not None and (self.due_at is None or due_at < self.due_at):
            self.due_at = due_at

    def to_outcome(self) -> Outcome:
        return Outcome(
            messages=self.messages,
            opened=self.opened,
            duplicates=self.duplicates,
            statuses=self.statuses,
            others=self.others,
            groups=self.groups,
            unroutable=tuple(sorted(set(self.unroutable))),
            refused=tuple(sorted(set(self.refused))),
            error=self.error,
        )

    def outcome(self) -> str:
        """The outcome in one line, for people."""
        return self.to_outcome().summary()

    def add(self, other: IngestResult) -> None:
        """Fold in the result of another slice of the same body."""
        for name in ("messages", "opened", "duplicates", "statuses", "others", "groups"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unroutable.extend(other.unroutable)
        self.refused.extend(other.refused)
        self.customers.extend(other.customers)
        self.error = self.error or other.error
        self.scheduled(other.due_at)

"""What every use case needs: the database, the clock, the secret box and a way to wake the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wasession.domain.clock import Clock
from wasession.store.db import Database
from wasession.store.secrets import SecretBox


def _no_wake() -> None:
    return None


@dataclass
class ServiceContext:
    db: Database
    clock: Clock
    box: SecretBox
    # Called after a commit that may have made work due sooner (in-process engine wake-up).
    wake: Callable[[], None] = field(default=_no_wake)

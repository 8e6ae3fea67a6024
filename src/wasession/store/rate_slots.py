"""The shared send rate's slots in PostgreSQL (ADR 0003): advisory locks on one autocommit connection
of their own, so a lock lives exactly as long as the session that took it.

`outbox/ratelimit.py` decides when to take and release; the SQL and the driver are here.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a slot is taken: only PostgreSQL pays for the driver, not every CLI call
    import psycopg

# One statement per take: walk the channel's slots from a random start (so processes rarely race
# for the same one) and lock the first free slot. The CASE keeps this session from re-taking a slot
# it already holds: PostgreSQL advisory locks are re-entrant within one session.
_TAKE = """
SELECT s.k, hashtext(current_schema() || ':wasession-rate:' || %(key)s::text)
FROM (SELECT (g + %(offset)s) %% %(n)s AS k FROM generate_series(0, %(n)s - 1) AS g) AS s
WHERE CASE WHEN s.k = ANY(%(mine)s::int[]) THEN false
           ELSE pg_try_advisory_lock(hashtext(current_schema() || ':wasession-rate:' || %(key)s::text), s.k)
      END
LIMIT 1
"""
_RELEASE = "SELECT pg_advisory_unlock(a, b) FROM unnest(%s::int[], %s::int[]) AS t(a, b)"


class SlotsUnavailable(Exception):
    """The database could not be reached; its server frees this session's slots with the connection."""


class RateSlots:
    """Not thread-safe: the limiter calls it under its own lock."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def take(self, key: int, slots: int, offset: int, mine: list[int]) -> tuple[int, int] | None:
        """A free slot of channel `key`'s `slots`, locked: (slot, lock key); None when all are held."""
        import psycopg

        try:
            row = self._connection().execute(_TAKE, {"key": key, "n": slots, "offset": offset, "mine": mine}).fetchone()
        except psycopg.Error as exc:
            self.close()
            raise SlotsUnavailable(type(exc).__name__) from exc
        return None if row is None else (int(row[0]), int(row[1]))

    def release(self, lock_keys: list[int], slots: list[int]) -> None:
        if self._conn is None:
            return  # the connection went away, and the server freed the slots with it
        import psycopg

        try:
            self._conn.execute(_RELEASE, (lock_keys, slots))
        except psycopg.Error as exc:
            self.close()
            raise SlotsUnavailable(type(exc).__name__) from exc

    def close(self) -> None:
        if self._conn is not None:
            import psycopg

            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        return self._conn
